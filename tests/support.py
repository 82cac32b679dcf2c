"""Helpers the tests share: tiny configs on generated data, the real-data marker, and a
stand-in FID network. Fixtures live in ``conftest.py``; these are plain values."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

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


def run_process_group(cmd: list[str], timeout: float, **popen) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True, timeout=...)``, except that a
    timeout kills the command's whole process group before raising ``TimeoutExpired``:
    a launcher's worker left waiting on a collective would hold a core for the rest of
    the suite (``subprocess.run`` kills the launcher alone)."""
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def straight_and_resumed(sections: dict, folder: Path):
    """Two runs of ``tiny_config(**sections)`` to step 6: one straight through (``folder/a``),
    one stopped at step 3 and resumed with its plan lengthened to 6 (``folder/b``), as seed
    000 did with WGAN-GP. Returns their ``Run``s, for comparing bit for bit."""
    from gankit import training
    from gankit.run import open_run

    straight = training.train(tiny_config(**sections), folder / "a", progress=False).run
    half = tiny_config(**sections)
    half.train.steps = 3
    training.train(half, folder / "b", progress=False)
    resumed = open_run(folder / "b")
    cfg = resumed.config()
    cfg.train.steps = 6
    training.resume(resumed, cfg, progress=False)
    return straight, resumed
