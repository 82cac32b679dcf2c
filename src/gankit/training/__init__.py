"""Training: set-up, the loop, and the state that checkpoints hold.

``train`` starts a run and ``resume`` continues one; both complete and save the
config, restore what needs restoring, and run the loop - in one process, or in
each of the processes ``torchrun`` starts (only rank 0 writes). ``plan`` and
``total_steps`` answer "what would training do?" without training: what tune and
reproduce need to schedule runs, so they never reach into the modules below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gankit.checkpoint import finish_best_mark, prune_training_states
from gankit.config import Config
from gankit.run import Run, create_run, save_config, tidy
from gankit.training import distributed
from gankit.training.loop import Interrupted, TrainResult, train_loop
from gankit.training.maintenance import Evaluate, StopTraining
from gankit.training.setup import RESUMABLE, pick_device, prepare
from gankit.training.state import build_state, restore, total_steps

MakeEvaluate = Callable[[Config, torch.device], Evaluate]

__all__ = [
    "RESUMABLE",
    "Interrupted",
    "StopTraining",
    "TrainResult",
    "TrainingPlan",
    "pick_device",
    "plan",
    "resume",
    "total_steps",
    "train",
]


@dataclass(frozen=True)
class TrainingPlan:
    """What training a config would do, known before anything is created."""

    config: Config  # completed from the data: image size, channels, class names
    n_images: int  # real training images, what an epoch passes over
    total_steps: int  # generator steps the schedule trains for


def plan(cfg: Config) -> TrainingPlan:
    """Checks ``cfg`` against its data as ``train`` would, and says what it would train.

    Loads the dataset and builds the models once to validate them; creates no folder.
    ``total_steps(train_config, plan.n_images)`` gives the steps of any other schedule
    on the same data without loading it again.

    Raises:
        GankitError: the data is missing, or the config does not fit it.
    """
    completed, data = prepare(cfg)
    n_images = len(data.images)
    return TrainingPlan(completed, n_images, total_steps(completed.train, n_images))


def train(
    cfg: Config,
    out: str | Path,
    *,
    progress: bool = True,
    make_evaluate: MakeEvaluate | None = None,
) -> TrainResult:
    """Starts a new run in ``out`` and trains it.

    ``make_evaluate(completed config, device)`` builds the in-training evaluation (see
    ``train_loop``); it is called on rank 0 only, and only when ``log.eval_every`` is set.
    """
    d = distributed.init(cfg.train.device)
    try:
        cfg, data = prepare(cfg)
        device = distributed.device_for(d, pick_device(cfg.train.device))
        state = build_state(cfg, data, device, d)
        evaluate = _evaluator(make_evaluate, state)  # before the folder: it may refuse
        out = Path(distributed.broadcast(d, str(out)))
        run = create_run(out, cfg) if d.main else Run(out)
        distributed.barrier(d)
        return _loop(state, run, progress, evaluate)
    finally:
        distributed.shutdown(d)


def resume(
    run: Run,
    overrides: Config | None = None,
    *,
    progress: bool = True,
    make_evaluate: MakeEvaluate | None = None,
) -> TrainResult:
    """Continues ``run`` from its latest checkpoint (``overrides``: the config with new schedule).

    A run stopped before its first checkpoint starts again from step 0 with its config,
    exactly as a new run would. Works with any number of processes, whatever number the
    run started with.
    """
    cfg = overrides or run.config()
    d = distributed.init(cfg.train.device)
    try:
        cfg, data = prepare(cfg)
        device = distributed.device_for(d, pick_device(cfg.train.device))
        state = build_state(cfg, data, device, d)
        # Before anyone reads the run: clean what a crash mid-write left behind, and
        # finish the pruning and the best mark that a crash right after the last
        # checkpoint cut short.
        if d.main:
            tidy(run)
            prune_training_states(run, cfg.log.keep_training_states)
            finish_best_mark(run)
        distributed.barrier(d)
        if run.checkpoint_steps():
            restore(state, run.resolve_checkpoint("latest"))
        state.total_steps = total_steps(cfg.train, len(data.images))
        distributed.barrier(d)  # every rank has read the checkpoint before rank 0 writes
        if d.main:
            save_config(run, cfg)
        return _loop(state, run, progress, _evaluator(make_evaluate, state))
    finally:
        distributed.shutdown(d)


def _evaluator(make_evaluate: MakeEvaluate | None, state) -> Evaluate | None:
    if make_evaluate is None or not state.cfg.log.eval_every or not state.dist.main:
        return None
    return make_evaluate(state.cfg, state.device)


def _loop(state, run: Run, progress: bool, evaluate: Evaluate | None) -> TrainResult:
    try:
        return train_loop(state, run, progress=progress, evaluate=evaluate)
    except RuntimeError as e:  # a collective failed: another rank died or timed out
        if state.dist.enabled and _is_collective_error(e):
            raise distributed.lost_contact(state.dist, e) from None
        raise


def _is_collective_error(e: RuntimeError) -> bool:
    text = f"{type(e).__name__} {e}".lower()
    return any(w in text for w in ("gloo", "nccl", "connection", "timed out", "distbackend"))
