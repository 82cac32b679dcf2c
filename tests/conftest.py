"""Fixtures every test gets: one thread, private caches, and the stand-in FID network on request.

Plain helpers (``tiny_config``, ``realdata``, ``fake_inception_network``) live in
``support.py``."""

from __future__ import annotations

import os

# Before NumPy loads OpenBLAS: FID's 2048 x 2048 eigendecompositions with two BLAS
# threads spin against other processes on a shared 2-core CPU (2 s -> 20 s each).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest
import torch

from tests.support import fake_inception_network

# Tests run tiny models, where a second thread costs more in synchronisation than it
# gains, and thrashes badly when another process shares the two cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one thread, whatever the test before it set."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keeps every test's caches and downloads out of the user's home."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("GANKIT_CACHE", str(cache / "gankit"))
    os.environ.pop("GANKIT_DATA", None)


@pytest.fixture
def fake_inception(monkeypatch):
    """Replaces the FID network with ``fake_inception_network()`` for one test."""
    from gankit.metrics import inception

    net = fake_inception_network()
    monkeypatch.setattr(inception, "load_network", lambda device="cpu": net)
    return net
