"""Training: set-up, the loop, and the state that checkpoints hold.

``train`` is the one entry point: it completes and saves the config, makes
(or reopens) the run folder, restores a checkpoint when resuming, and runs the
loop.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gankit import config as config_io
from gankit.config import Config
from gankit.run import Run, create_run
from gankit.training.loop import Interrupted, TrainResult, train_loop
from gankit.training.setup import RESUMABLE, pick_device, prepare
from gankit.training.state import build_state, restore, total_steps

__all__ = ["RESUMABLE", "Interrupted", "TrainResult", "pick_device", "resume", "train"]


def train(cfg: Config, out: str | Path, *, progress: bool = True) -> TrainResult:
    """Starts a new run in ``out`` and trains it."""
    cfg, data = prepare(cfg)
    device = pick_device(cfg.train.device)
    state = build_state(cfg, data, device)
    run = create_run(out, cfg)
    return train_loop(state, run, progress=progress)


def resume(run: Run, overrides: Config | None = None, *, progress: bool = True) -> TrainResult:
    """Continues ``run`` from its latest checkpoint (``overrides``: the config with new schedule)."""
    cfg = overrides or run.config()
    cfg, data = prepare(cfg)
    device = pick_device(cfg.train.device)
    state = build_state(cfg, data, device)
    restore(state, run.resolve_checkpoint("latest"))
    state.total_steps = total_steps(cfg.train, len(data.images))
    config_io.save(dataclasses.replace(cfg), run.config_path)
    return train_loop(state, run, progress=progress)
