"""The training loop: one readable function, phase by phase.

Follows the alternating scheme of Goodfellow et al. (2014) with k critic
steps per generator step (Arjovsky et al. 2017), as in pytorch/examples'
DCGAN: G's output of the last critic step is reused for the G update, so G
runs forward once per D step and never back-propagates on critic-only steps.
Maintenance (logging, samples, checkpoints) happens once per interval; the
loss maths live in ``gankit.losses`` and the file formats in ``checkpoint``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit.checkpoint import best_score, mark_best, prune_training_states, write_checkpoint
from gankit.data import augment_flips
from gankit.errors import GankitError
from gankit.images import save_grid, to_float
from gankit.rng import rand_shard
from gankit.run import Run
from gankit.sampling import generate, label_grid_inputs, noise
from gankit.training import distributed
from gankit.training.fast import to_layout
from gankit.training.log import MetricsLog, NonFiniteLoss
from gankit.training.plot import plot_losses
from gankit.training.state import TrainState, snapshot

LOGGED = ["d_loss", "g_loss", "d_real", "d_fake", "distance"]
Evaluate = Callable[[nn.Module], dict[str, float]]


@dataclass
class TrainResult:
    run: Run
    step: int
    total_steps: int
    images_seen: int
    seconds: float  # wall time of this session
    stopped: str  # finished | time budget | interrupted
    checkpoint: Path | None
    last_sample: Path | None


class StopTraining(Exception):
    """Raised by an ``evaluate`` callable to end the run after this evaluation.

    Its scores are still logged, a checkpoint is written, and the result's ``stopped``
    is ``reason`` (e.g. a hyper-parameter search pruning an unpromising trial).
    """

    def __init__(self, reason: str, scores: dict[str, float]):
        super().__init__(reason)
        self.reason, self.scores = reason, scores


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was saved. Carries the result."""

    def __init__(self, result: TrainResult, signum: int):
        super().__init__(f"interrupted by signal {signum}")
        self.result, self.signum = result, signum


def train_loop(
    s: TrainState, run: Run, *, progress: bool = True, evaluate: Evaluate | None = None
) -> TrainResult:
    """Trains ``s`` to ``s.total_steps`` in ``run``.

    Args:
        evaluate: optional G -> {metric: value}, called every ``log.eval_every`` steps on
            rank 0 (cheap in-training metrics); its first metric picks the ``best``
            checkpoint (lower is better). It may raise ``StopTraining`` to end the run.
    """
    cfg, t, log_cfg = s.cfg, s.cfg.train, s.cfg.log
    distance_name = _distance_name(cfg.loss.loss)
    d = s.dist
    tb_dir = run.path / "tensorboard" if _has_tb() and d.main else None
    # Every rank checks its losses; only rank 0 writes them.
    log_path = run.metrics_path if d.main else None
    log = MetricsLog(log_path, LOGGED, block=log_cfg.log_every, tensorboard_dir=tb_dir)
    log.load_history(upto_step=s.step)
    grid_z, grid_y, grid_rows = _fixed_grid(s)
    autocast = _autocast(s.device, t.bf16)
    stop = _StopFlag()
    start_images, elapsed_before, t0 = s.images_seen, s.elapsed_seconds, time.monotonic()
    deadline = t0 + t.max_minutes * 60 if t.max_minutes > 0 else float("inf")
    bar = _progress_bar(s, enabled=progress and d.main)
    checkpoint = last_sample = None
    best = [best_score(run)]  # the best in-training score so far (lower is better)
    stopped = "finished"
    B = t.batch_size // d.world  # this rank's share of the global batch
    reduce = (lambda x: distributed.mean(d, x)) if d.enabled else None

    def maintenance(final: bool) -> str | None:
        """Logs, samples, evaluates and checkpoints; returns a reason to stop, if any."""
        nonlocal checkpoint, last_sample
        step = s.step
        ckpt_due = final or (log_cfg.checkpoint_every and step % log_cfg.checkpoint_every == 0)
        eval_due = evaluate is not None and log_cfg.eval_every and step % log_cfg.eval_every == 0
        scores, stop_reason = {}, None
        if eval_due and d.main:
            try:
                scores = evaluate(s.sampler)
            except StopTraining as e:
                scores, stop_reason = e.scores, e.reason
        # Every rank stops together (eval_due is the same on all ranks).
        stopping = (
            eval_due and d.enabled and distributed.any_rank(d, stop_reason is not None, s.device)
        )
        if stopping and not stop_reason:
            stop_reason = "stopped by rank 0's evaluation"
        final = final or stop_reason is not None
        ckpt_due = ckpt_due or final
        if scores and (best[0] is None or next(iter(scores.values())) < best[0]):
            best[0], best_now = next(iter(scores.values())), True
            ckpt_due = True  # the best so far is kept as a checkpoint
        else:
            best_now = False
        # Flushing checks the losses are finite: always before a checkpoint is written.
        # (eval_due, not scores: every rank must take part in the same flushes)
        if ckpt_due or step % log_cfg.log_every == 0 or eval_due:
            elapsed = time.monotonic() - t0
            ips = (s.images_seen - start_images) / max(elapsed, 1e-9)
            record, bad = None, None
            try:
                record = log.flush({"img_per_s": round(ips, 1), **scores}, reduce=reduce)
            except NonFiniteLoss as e:
                bad = e
            if distributed.any_rank(d, bad is not None, s.device):
                raise _non_finite(run, bad or NonFiniteLoss(step, "a loss on another rank"))
            if record and bar is not None:
                bar.set_postfix(
                    d=f"{record['d_loss']:.3f}",
                    g=f"{record['g_loss']:.3f}",
                    img_s=f"{ips:.0f}",
                    refresh=False,
                )
        if not d.main:
            if ckpt_due and not _all_finite(s):
                raise _non_finite(run, NonFiniteLoss(step, "a weight"))
            return stop_reason
        if final or (log_cfg.sample_every and step % log_cfg.sample_every == 0):
            images = generate(s.sampler, grid_z, grid_y)
            last_sample = save_grid(images, run.sample_path(step), nrow=grid_rows)
            plot_losses(log.history, run.losses_path, distance_name)
        if ckpt_due:
            if not _all_finite(s):
                raise _non_finite(run, NonFiniteLoss(step, "a weight"))
            s.elapsed_seconds = elapsed_before + time.monotonic() - t0
            generator, training, state = snapshot(s)
            checkpoint = write_checkpoint(
                run, step, generator=generator, training=training, state=state
            )
            prune_training_states(run, log_cfg.keep_training_states)
            if best_now:
                mark_best(run, step, scores)
        return stop_reason

    with stop.installed():
        try:
            while s.step < s.total_steps:
                # --- Update D (k critic steps); the last one's fake batch is kept for G.
                for k in range(t.n_critic):
                    idx = s.order.next().to(s.device, non_blocking=True)
                    real = to_layout(to_float(s.images[idx]), s.fast)
                    if cfg.data.hflip or cfg.data.vflip:
                        real = augment_flips(
                            real,
                            hflip=cfg.data.hflip,
                            vflip=cfg.data.vflip,
                            generator=s.rngs["aug"],
                            shard=d.shard,
                        )
                    y = s.labels[idx] if s.conditional else None
                    # Noise for the global batch, sliced: N ranks draw what one process would.
                    z = rand_shard(
                        (B, cfg.model.z_dim), s.rngs["noise"], s.device, d.shard, normal=True
                    )
                    last = k == t.n_critic - 1
                    with autocast(), torch.set_grad_enabled(last):
                        fake = s.G_train(z, y)
                    with autocast():
                        d_loss, d_stats = s.loss.d_loss(s.D_train, real, fake.detach(), y)
                    s.opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    s.opt_d.step()
                    s.loss.constrain(s.D)
                    s.images_seen += t.batch_size

                # --- Update G through the freshly updated D (D's weights need no grads here,
                # so D_g is never DDP-wrapped: there is nothing to average).
                s.D.requires_grad_(False)
                with autocast():
                    g_loss, _ = s.loss.g_loss(s.D_g, fake, y)
                s.opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                s.opt_g.step()
                s.D.requires_grad_(True)

                # --- Update the EMA copy of G.
                if s.ema is not None:
                    s.ema.update()
                s.step += 1
                log.append(
                    s.step,
                    s.order.epoch_float,
                    torch.stack(
                        [
                            d_loss.detach().float(),
                            g_loss.detach().float(),
                            d_stats["d_real"].float(),
                            d_stats["d_fake"].float(),
                            d_stats["distance"].float(),
                        ]
                    ),
                )

                # --- Maintenance, once per interval.
                if bar is not None:
                    bar.update(1)
                if s.step < s.total_steps and _should_stop(s, stop, deadline):
                    stopped = "interrupted" if stop.signum is not None else "time budget"
                    maintenance(final=True)
                    break
                reason = maintenance(final=s.step == s.total_steps)
                if reason is not None and s.step < s.total_steps:
                    stopped = reason
                    break
        finally:
            if bar is not None:
                bar.close()
            log.close()
    result = TrainResult(
        run,
        s.step,
        s.total_steps,
        s.images_seen,
        time.monotonic() - t0,
        stopped,
        checkpoint,
        last_sample,
    )
    if stopped == "interrupted":
        raise Interrupted(result, stop.signum)
    return result


def _distance_name(loss: str) -> str:
    """What the loss's ``distance`` statistic estimates, for the curve's label."""
    if loss.startswith("wgan"):
        return "Wasserstein estimate"
    if loss in ("hinge", "lsgan"):
        return "critic gap"  # D's mean output on real minus on generated images
    return "Jensen-Shannon estimate"  # minimax, ns, dragan (an NS GAN plus a penalty)


def _should_stop(s: TrainState, stop: _StopFlag, deadline: float) -> bool:
    """Signal or time budget; distributed ranks decide together once per log interval."""
    want = stop.signum is not None or time.monotonic() > deadline
    if not s.dist.enabled:
        return want
    if s.step % s.cfg.log.log_every:
        return False
    return distributed.any_rank(s.dist, want, s.device)


def _fixed_grid(s: TrainState):
    """Fixed noise (and labels) for the sample grids: one row per label when conditional."""
    z_dim = s.cfg.model.z_dim
    if s.conditional:
        n_classes = len(s.cfg.data.class_names)
        z, y = label_grid_inputs(n_classes, 10, z_dim)
        return z, y, 10
    n = s.cfg.log.sample_count
    return noise(range(n), z_dim), None, max(1, round(n**0.5))


def _all_finite(s: TrainState) -> bool:
    params = [p.detach() for p in s.G.parameters()] + [p.detach() for p in s.D.parameters()]
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


def _autocast(device: torch.device, bf16: bool):
    """A factory of autocast contexts: bf16 on CUDA when enabled, else a no-op."""
    if device.type == "cuda" and bf16:
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def _progress_bar(s: TrainState, enabled: bool):
    if not (enabled and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(
        total=s.total_steps,
        initial=s.step,
        unit="step",
        dynamic_ncols=True,
        mininterval=0.5,
        smoothing=0.05,
    )


def _has_tb() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps."""

    def __init__(self):
        self.signum: int | None = None

    def _handle(self, signum, frame):
        self.signum = signum

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
