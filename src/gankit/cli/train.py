"""``gankit train``: start a run from a preset or config file, or resume one."""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

from gankit import config as config_io
from gankit.errors import GankitError
from gankit.presets import get_preset
from gankit.run import open_run

from .options import add_config_flags, config_overrides


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a GAN (from a preset, a config file, or resume a run)",
        description="Train a GAN. Every config field is a flag; see `gankit presets` for presets.",
    )
    p.add_argument("--preset", default=None, help="start from this preset (default: fashion)")
    p.add_argument("--config", type=Path, help="start from this config.yaml instead of a preset")
    p.add_argument("--out", type=Path, help="run folder to create (default: runs/PRESET-TIME)")
    p.add_argument(
        "--resume", type=Path, metavar="RUN", help="continue this run from its latest checkpoint"
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gankit import training  # imported here: `gankit presets` should not pay for torch

    overrides = config_overrides(args)
    if args.resume:
        return _resume(args, overrides, training)
    if args.preset and args.config:
        raise GankitError("give --preset or --config, not both")
    base = config_io.load(args.config) if args.config else get_preset(args.preset or "fashion")
    cfg = config_io.override(base, overrides)
    if args.dry_run:
        print(config_io.dump_yaml(cfg), end="")
        return 0
    out = args.out or Path("runs") / f"{cfg.preset or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
    say(f"training {cfg.preset or 'custom config'} -> {out}")
    try:
        result = training.train(cfg, out, progress=not args.quiet, make_evaluate=_monitor)
    except training.Interrupted as e:
        return _interrupted(e)
    if is_main_process():
        _report(result)
    return 0


def _resume(args, overrides, training) -> int:
    if args.preset or args.config:
        raise GankitError("--resume continues a run with its own config - drop --preset/--config")
    run_ = open_run(args.resume)
    fixed = sorted(set(overrides) - training.RESUMABLE)
    if fixed:
        names = ", ".join("--" + n.replace("_", "-") for n in fixed)
        raise GankitError(
            f"{names} cannot change when resuming (it would be another experiment) - "
            "start a new run instead"
        )
    cfg = config_io.override(run_.config(), overrides)
    if args.dry_run:
        print(config_io.dump_yaml(cfg), end="")
        return 0
    say(f"resuming {run_.path}")
    try:
        result = training.resume(run_, cfg, progress=not args.quiet, make_evaluate=_monitor)
    except training.Interrupted as e:
        return _interrupted(e)
    if not is_main_process():
        return 0
    if result.checkpoint is None:
        print(
            f"{run_.path} already finished at step {result.step} - pass a larger --epochs or "
            "--steps to train further"
        )
        return 0
    _report(result)
    return 0


def _report(result) -> None:
    r = result
    print(
        f"{r.stopped} at step {r.step}/{r.total_steps} "
        f"({r.images_seen:,} images seen, {r.seconds / 60:.1f} min)"
    )
    print(f"  samples:    {r.last_sample}")
    print(f"  losses:     {r.run.losses_path}")
    print(f"  checkpoint: {r.checkpoint}")
    if r.stopped != "finished":
        print(f"  continue:   gankit train --resume {r.run.path}")


def _monitor(cfg, device):
    """--eval-every: classifier FID and class entropy during training."""
    from gankit.metrics.monitor import training_monitor

    return training_monitor(cfg, device, say=say)


def is_main_process() -> bool:
    """Rank 0 under torchrun (from its environment, before torch is imported), else True."""
    return os.environ.get("RANK", "0") == "0"


def say(text: str) -> None:
    """Prints once per job: on rank 0 only under torchrun."""
    if is_main_process():
        print(text, flush=True)


def _interrupted(e) -> int:
    r = e.result
    say(f"\ninterrupted at step {r.step}; checkpoint saved to {r.checkpoint}")
    say(f"continue with: gankit train --resume {r.run.path}")
    return 128 + int(e.signum if e.signum else signal.SIGINT)
