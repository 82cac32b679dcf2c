"""What the training loop does between steps, once per interval: evaluate, log, sample, save.

Owns the in-training evaluation's contract (``Evaluate``, ``StopTraining``), the
choice of the ``best`` checkpoint, and the votes that keep data-parallel ranks
together: every rank takes part in the same log flushes (each checks its losses
are finite) and stops at the same step. Only rank 0 samples and writes
checkpoints; ``checkpoint`` decides how they are written, this module when.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from gankit.checkpoint import best_score, mark_best, prune_training_states, write_checkpoint
from gankit.errors import GankitError
from gankit.images import save_grid
from gankit.run import Run
from gankit.sampling import generate, label_grid_inputs, noise
from gankit.training import distributed
from gankit.training.log import MetricsLog, NonFiniteLoss
from gankit.training.plot import plot_losses
from gankit.training.state import TrainState, snapshot


class Evaluate(Protocol):
    """Cheap metrics during training, called on rank 0 every ``log.eval_every`` steps.

    ``evaluate(G, step)`` returns ``{metric: value}``; its first metric picks the
    ``best`` checkpoint, and ``higher_is_better`` says which way that metric improves.
    It may raise ``StopTraining`` to end the run after this evaluation.
    """

    higher_is_better: bool

    def __call__(self, G: nn.Module, step: int) -> dict[str, float]: ...


class StopTraining(Exception):
    """Raised by an ``evaluate`` callable to end the run after this evaluation.

    Its scores are still logged, a checkpoint is written, and the result's ``stopped``
    is ``reason`` (e.g. a hyper-parameter search pruning an unpromising trial).
    """

    def __init__(self, reason: str, scores: dict[str, float]):
        super().__init__(reason)
        self.reason, self.scores = reason, scores


@dataclass
class Clock:
    """When this call of the loop started, for images per second and the run's total time."""

    started: float  # time.monotonic()
    images_at_start: int
    seconds_before: float  # training time of the run before this call

    def seconds(self) -> float:
        return time.monotonic() - self.started


class Maintenance:
    """Runs at the end of every step; most steps it only checks what is due.

    Its fields are all it remembers between intervals: the best score so far and
    the last checkpoint and sample grid written.
    """

    def __init__(
        self,
        state: TrainState,
        run: Run,
        log: MetricsLog,
        clock: Clock,
        *,
        evaluate: Evaluate | None = None,
        bar=None,
    ):
        self.state, self.run, self.log, self.clock = state, run, log, clock
        self.evaluate, self.bar = evaluate, bar
        # Only rank 0 holds ``evaluate``; the others must know whether it evaluates.
        self.evaluating: bool = distributed.broadcast(state.dist, evaluate is not None)
        self.best: float | None = best_score(run)  # the in-training score of `best`
        self.checkpoint: Path | None = None
        self.last_sample: Path | None = None
        self.grid_z, self.grid_y, self.grid_rows = _fixed_grid(state)

    def __call__(self, final: bool) -> str | None:
        """Does what is due at this step; returns a reason to stop early, if any.

        ``final``: the run ends here (last step, time budget or signal) - sample and save.
        """
        state, log_cfg, dist = self.state, self.state.cfg.log, self.state.dist
        step = state.step
        # The same on every rank, so that every rank joins the vote and the flush.
        eval_due = self.evaluating and _every(step, log_cfg.eval_every)
        scores, stop_reason = self._evaluate(step) if eval_due and dist.main else ({}, None)
        if eval_due and dist.enabled:
            stop_reason = _vote_stop(state, stop_reason)
        final = final or stop_reason is not None
        best_now = self._record_best(scores)
        save_due = final or best_now or _every(step, log_cfg.checkpoint_every)
        # Flushing checks the losses are finite: always before a checkpoint is written.
        if save_due or eval_due or _every(step, log_cfg.log_every):
            self._flush(scores)
        if not dist.main:
            if save_due:
                self._check_weights()
            return stop_reason
        if final or _every(step, log_cfg.sample_every) or _epochs_ended(state):
            self._sample()
        if save_due:
            self._save(scores if best_now else None)
        return stop_reason

    def _evaluate(self, step: int) -> tuple[dict[str, float], str | None]:
        try:
            return self.evaluate(self.state.sampler, step), None
        except StopTraining as e:
            return e.scores, e.reason

    def _record_best(self, scores: dict[str, float]) -> bool:
        """Keeps the first score as ``best`` when it beats it; says whether it did."""
        if not scores:
            return False
        score = next(iter(scores.values()))
        if not math.isfinite(score):
            return False
        if self.best is not None:
            higher = self.evaluate.higher_is_better
            if (score <= self.best) if higher else (score >= self.best):
                return False
        self.best = score
        return True

    def _flush(self, scores: dict[str, float]) -> None:
        """Writes the queued steps' metrics (and scores); stops every rank on a non-finite loss."""
        state, dist = self.state, self.state.dist
        ips = (state.images_seen - self.clock.images_at_start) / max(self.clock.seconds(), 1e-9)
        reduce = functools.partial(distributed.mean, dist) if dist.enabled else None
        record, bad = None, None
        try:
            record = self.log.flush({"img_per_s": round(ips, 1), **scores}, reduce=reduce)
        except NonFiniteLoss as e:
            bad = e
        if distributed.any_rank(dist, bad is not None, state.device):
            raise _non_finite(self.run, bad or NonFiniteLoss(state.step, "a loss on another rank"))
        if record and self.bar is not None:
            self.bar.set_postfix(
                d=f"{record['d_loss']:.3f}",
                g=f"{record['g_loss']:.3f}",
                img_s=f"{ips:.0f}",
                refresh=False,
            )

    def _sample(self) -> None:
        images = generate(self.state.sampler, self.grid_z, self.grid_y)
        step = self.state.step
        self.last_sample = save_grid(images, self.run.sample_path(step), nrow=self.grid_rows)
        plot_losses(self.log.history, self.run.losses_path, self.state.loss.distance_name)

    def _check_weights(self) -> None:
        if not _all_finite(self.state):
            raise _non_finite(self.run, NonFiniteLoss(self.state.step, "a weight"))

    def _save(self, best_scores: dict[str, float] | None) -> None:
        """Writes a checkpoint (marked ``best`` when ``best_scores`` is given) and prunes."""
        self._check_weights()
        state, run = self.state, self.run
        state.elapsed_seconds = self.clock.seconds_before + self.clock.seconds()
        generator, training, saved = snapshot(state)
        if best_scores is not None:  # the mark can be redone from the checkpoint alone
            saved["best"] = best_scores
        self.checkpoint = write_checkpoint(
            run, state.step, generator=generator, training=training, state=saved
        )
        prune_training_states(run, state.cfg.log.keep_training_states)
        if best_scores is not None:
            mark_best(run, state.step, best_scores)


def _every(step: int, interval: int) -> bool:
    """Whether ``step`` ends an interval; an interval of 0 means never."""
    return bool(interval) and step % interval == 0


def _epochs_ended(state: TrainState) -> bool:
    """Whether this step finished a block of ``log.sample_every_epochs`` passes of the data.

    Counted in whole images, so it is exact however the batch divides the dataset and
    the same after a resume (``images_seen`` is part of the saved state).
    """
    every = state.cfg.log.sample_every_epochs
    if not every:
        return False
    block = every * state.order.n  # images in ``every`` epochs
    per_step = state.cfg.train.batch_size * state.cfg.train.n_critic
    return state.images_seen // block > (state.images_seen - per_step) // block


def _vote_stop(state: TrainState, reason: str | None) -> str | None:
    """Rank 0's reason to stop, known to every rank, so that all stop at the same step."""
    stopping = distributed.any_rank(state.dist, reason is not None, state.device)
    return reason or ("stopped by rank 0's evaluation" if stopping else None)


def _fixed_grid(state: TrainState):
    """Fixed noise (and labels) for the sample grids: one row per label when conditional."""
    z_dim = state.cfg.model.z_dim
    if state.conditional:
        n_classes = len(state.cfg.data.class_names)
        z, y = label_grid_inputs(n_classes, 10, z_dim)
        return z, y, 10
    n = state.cfg.log.sample_count
    return noise(range(n), z_dim), None, max(1, round(n**0.5))


def _all_finite(state: TrainState) -> bool:
    params = [p.detach() for p in state.G.parameters()] + [p.detach() for p in state.D.parameters()]
    return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


def _non_finite(run: Run, e: NonFiniteLoss) -> GankitError:
    steps = run.checkpoint_steps()
    if steps:
        where = f"the last good checkpoint is step {steps[-1]} ({run.checkpoint_dir(steps[-1])})"
        fix = f"resume from it with gankit train --resume {run.path} (a lower --lr-d helps)"
    else:
        where, fix = "no checkpoint was saved before it", "start again with lower learning rates"
    return GankitError(
        f"training stopped: {e.name} became non-finite at step {e.step}; {where} - {fix}"
    )
