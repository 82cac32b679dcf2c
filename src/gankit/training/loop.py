"""The training loop: one readable function, phase by phase.

Follows the alternating scheme of Goodfellow et al. (2014) with k critic
steps per generator step (Arjovsky et al. 2017), as in pytorch/examples'
DCGAN: G's output of the last critic step is reused for the G update, so G
runs forward once per D step and never back-propagates on critic-only steps.
Maintenance (logging, evaluation, samples, checkpoints) happens once per
interval in ``maintenance``; the loss maths and the statistics worth logging
live in ``gankit.losses``, the file formats in ``checkpoint``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gankit.data import augment, augments
from gankit.images import pixel_scale, to_float
from gankit.losses import build_r1
from gankit.rng import rand_shard
from gankit.run import Run
from gankit.training import distributed
from gankit.training.fast import to_layout
from gankit.training.log import MetricsLog
from gankit.training.maintenance import Clock, Evaluate, Maintenance
from gankit.training.state import TrainState


@dataclass
class TrainResult:
    run: Run
    step: int
    total_steps: int
    images_seen: int
    seconds: float  # wall time of this call of the loop
    stopped: str  # finished | time budget | interrupted | an evaluation's reason
    checkpoint: Path | None
    last_sample: Path | None


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was saved. Carries the result."""

    def __init__(self, result: TrainResult, signum: int):
        super().__init__(f"interrupted by signal {signum}")
        self.result, self.signum = result, signum


def train_loop(
    state: TrainState, run: Run, *, progress: bool = True, evaluate: Evaluate | None = None
) -> TrainResult:
    """Trains ``state`` to ``state.total_steps`` in ``run``.

    Args:
        evaluate: optional ``(G, step) -> {metric: value}``, called every ``log.eval_every``
            steps on rank 0 (cheap in-training metrics); its first metric picks the ``best``
            checkpoint, in the direction it declares. It may raise ``StopTraining``.
    """
    cfg, train_cfg, dist, loss = state.cfg, state.cfg.train, state.dist, state.loss
    r1 = build_r1(cfg.loss)
    # Every rank checks its losses; only rank 0 writes them.
    log = MetricsLog(
        run.metrics_path if dist.main else None,
        ["d_loss", "g_loss", *loss.stats, *(["r1"] if r1 else [])],
        block=cfg.log.log_every,
        tensorboard_dir=run.path / "tensorboard" if _has_tb() and dist.main else None,
    )
    log.load_history(upto_step=state.step)
    clock = Clock(time.monotonic(), state.images_seen, state.elapsed_seconds)
    minutes = train_cfg.max_minutes
    deadline = clock.started + minutes * 60 if minutes > 0 else float("inf")
    bar = _progress_bar(state, enabled=progress and dist.main)
    maintenance = Maintenance(state, run, log, clock, evaluate=evaluate, bar=bar)
    autocast = _autocast(state.device, train_cfg.bf16)
    scale, augmenting = pixel_scale(cfg.data), augments(cfg.data)
    rank_batch = train_cfg.batch_size // dist.world  # this rank's share of the global batch
    stop, stopped = _StopFlag(), "finished"

    with stop.installed():
        try:
            while state.step < state.total_steps:
                # --- Update D (k critic steps); the last one's fake batch is kept for G.
                for k in range(train_cfg.n_critic):
                    idx = state.order.next().to(state.device, non_blocking=True)
                    real = to_layout(to_float(state.images[idx], scale=scale), state.fast)
                    if augmenting:
                        real = augment(
                            real, cfg.data, generator=state.rngs["aug"], shard=dist.shard
                        )
                    y = state.labels[idx] if state.conditional else None
                    # Noise for the global batch, sliced: N ranks draw what one process would.
                    z = rand_shard(
                        (rank_batch, cfg.model.z_dim),
                        state.rngs["noise"],
                        state.device,
                        dist.shard,
                        normal=True,
                    )
                    last = k == train_cfg.n_critic - 1
                    with autocast(), torch.set_grad_enabled(last):
                        fake = state.G_train(z, y)
                    with autocast():
                        d_loss, d_stats = loss.d_loss(state.D_train, real, fake.detach(), y)
                        d_total = d_loss
                        # R1 on the reals, every r1.every-th D step (counted over the run).
                        if r1 is not None and r1.due(state.step * train_cfg.n_critic + k):
                            penalty, r1_value = r1(state.D_train, real, y)
                            # Averaged over ranks now (rarely, when lazy), so the value
                            # logged and checkpointed is the global batch's on every rank.
                            state.r1_last = (
                                distributed.mean(dist, r1_value) if dist.enabled else r1_value
                            )
                            d_total = d_loss + penalty
                    state.opt_d.zero_grad(set_to_none=True)
                    d_total.backward()
                    state.opt_d.step()
                    loss.constrain(state.D)
                    if state.ada is not None:  # steer the augmentation by D's verdicts on reals
                        state.ada.observe(d_stats["d_real_sign"])
                    state.images_seen += train_cfg.batch_size

                # --- Update G through the freshly updated D (D's weights need no grads here,
                # so D_g is never DDP-wrapped: there is nothing to average).
                state.D.requires_grad_(False)
                with autocast():
                    g_loss, g_stats = loss.g_loss(state.D_g, fake, y)
                state.opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                state.opt_g.step()
                state.D.requires_grad_(True)

                # --- Update the EMA copy of G.
                if state.ema is not None:
                    state.ema.update()
                state.step += 1
                # The step's scalars stay on the device: the log reads them once per flush.
                stats = {**d_stats, **g_stats}
                scalars = [d_loss.detach(), g_loss.detach(), *(stats[key] for key in loss.stats)]
                scalars += [state.r1_last] if r1 is not None else []
                # float32 however autocast left them, so that one stack holds them all.
                scalars = torch.stack([value.float() for value in scalars])
                log.append(state.step, state.order.epoch_float, scalars)

                # --- Maintenance, once per interval: log, evaluate, sample, checkpoint.
                if bar is not None:
                    bar.update(1)
                if state.step < state.total_steps and _should_stop(state, stop, deadline):
                    stopped = "interrupted" if stop.signum is not None else "time budget"
                    maintenance(final=True)
                    break
                reason = maintenance(final=state.step == state.total_steps)
                if reason is not None and state.step < state.total_steps:
                    stopped = reason
                    break
        finally:
            if bar is not None:
                bar.close()
            log.close()
    result = TrainResult(
        run,
        state.step,
        state.total_steps,
        state.images_seen,
        clock.seconds(),
        stopped,
        maintenance.checkpoint,
        maintenance.last_sample,
    )
    if stopped == "interrupted":
        raise Interrupted(result, stop.signum)
    return result


def _should_stop(state: TrainState, stop: _StopFlag, deadline: float) -> bool:
    """Signal or time budget; distributed ranks decide together once per log interval."""
    want = stop.signum is not None or time.monotonic() > deadline
    if not state.dist.enabled:
        return want
    if state.step % state.cfg.log.log_every:
        return False
    return distributed.any_rank(state.dist, want, state.device)


def _autocast(device: torch.device, bf16: bool):
    """A factory of autocast contexts: bf16 on CUDA when enabled, else a no-op."""
    if device.type == "cuda" and bf16:
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def _progress_bar(state: TrainState, enabled: bool):
    if not (enabled and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(
        total=state.total_steps,
        initial=state.step,
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
