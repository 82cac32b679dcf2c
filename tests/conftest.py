"""Shared fixtures: tiny configs on generated data, so tests train in seconds."""

from __future__ import annotations

import os
from pathlib import Path

# Before NumPy loads OpenBLAS: FID's 2048 x 2048 eigendecompositions with two BLAS
# threads spin against other processes on a shared 2-core CPU (2 s -> 20 s each).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest
import torch

from gankit.config import (
    Config,
    DataConfig,
    LogConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
)

# Tests run tiny models, where a second thread costs more in synchronisation than it
# gains, and thrashes badly when another process shares the two cores.
torch.set_num_threads(1)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
HAS_FASHION = (FASHION_DIR / "train-images-idx3-ubyte.gz").exists()
realdata = pytest.mark.skipif(
    not HAS_FASHION, reason="Debian's dataset-fashion-mnist not installed"
)


def tiny_config(**sections) -> Config:
    """A conditional DCGAN at 32 px on 96 generated shapes: a few steps take a second."""
    cfg = Config(
        preset="tiny",
        data=DataConfig(dataset="shapes", img_size=32, shapes_count=96),
        model=ModelConfig(
            arch="dcgan",
            conditioning="projection",
            g_width=8,
            d_width=8,
            z_dim=16,
            embed_dim=8,
            d_norm="spectral",
        ),
        loss=LossConfig(loss="hinge"),
        train=TrainConfig(steps=6, batch_size=16, device="cpu", ema_halflife_images=100),
        log=LogConfig(log_every=2, sample_every=3, checkpoint_every=3, keep_training_states=0),
    )
    for name, values in sections.items():
        section = getattr(cfg, name)
        for key, value in values.items():
            setattr(section, key, value)
    return cfg


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keeps every test's caches and downloads out of the user's home."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("GANKIT_CACHE", str(cache / "gankit"))
    os.environ.pop("GANKIT_DATA", None)


def _fake_features(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)  # [b, 3 * 4 * 4]


def fake_inception_network():
    """A stand-in for the 87 MB FID network: everything but the network is real.

    Sources, the 299 px preprocessing, re-batching, statistics, the cache and the
    protocol all run as they would; the "features" are 4x4 average pools.
    """
    from gankit.metrics import inception

    return inception.Network(
        module=_fake_features, name="fake-net", sha1="f" * 40, dim=48, device=torch.device("cpu")
    )


@pytest.fixture
def fake_inception(monkeypatch):
    """Replaces the FID network with ``fake_inception_network()`` for one test."""
    from gankit.metrics import inception

    net = fake_inception_network()
    monkeypatch.setattr(inception, "load_network", lambda device="cpu": net)
    return net
