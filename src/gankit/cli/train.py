"""``gankit train``: start a run from a preset or config file, or resume one."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from gankit import config as config_io
from gankit.api import is_main_process, say
from gankit.errors import GankitError

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
    from gankit import api, training  # imported here: `gankit presets` should not pay for torch

    overrides = config_overrides(args)
    if args.resume:
        return _resume(args, overrides, api, training)
    if args.preset and args.config:
        raise GankitError("give --preset or --config, not both")
    cfg = api.experiment(args.config or args.preset or "fashion", **overrides)
    if args.dry_run:
        print(config_io.dump_yaml(cfg), end="")
        print(_networks(cfg, training))
        return 0
    out = args.out or api.default_out(cfg)
    say(f"training {cfg.preset or 'custom config'} -> {out}")
    try:
        result = api.train(cfg, out, progress=not args.quiet)
    except training.Interrupted as e:
        return _interrupted(e)
    if is_main_process():
        _report(result)
    return 0


def _resume(args, overrides, api, training) -> int:
    if args.preset or args.config:
        raise GankitError("--resume continues a run with its own config - drop --preset/--config")
    run_, cfg = api.resumed_experiment(args.resume, **overrides)
    if args.dry_run:
        print(config_io.dump_yaml(cfg), end="")
        return 0
    if run_.checkpoint_steps():
        say(f"resuming {run_.path}")
    else:  # stopped before its first checkpoint: nothing to restore, the config is all
        say(f"resuming {run_.path} from step 0 (it has no checkpoint yet)")
    try:
        result = api.resume(run_.path, progress=not args.quiet, **overrides)
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


def _networks(cfg, training) -> str:
    """The networks the config builds, as YAML comments (the dry run stays a valid config):
    parameters and FLOPs per image, and for layer-list nets the table in Keras' form.

    Unconditional nets need only the image shape, known without reading the data; the
    number of labels of a conditional one comes from the data.
    """
    from gankit.data.dataset import native_shape
    from gankit.models import build_models, describe, layer_tables

    data = cfg.data
    try:
        if cfg.model.conditioning != "none" and not data.class_names:
            data = training.plan(cfg).config.data
        size, channels = native_shape(data) if data.dataset else (0, 0)
        G, D = build_models(
            cfg.model,
            img_size=data.img_size or size,
            channels=data.channels or channels,
            num_classes=len(data.class_names),
        )
    except GankitError as e:
        return f"# networks: not built here ({e})"
    text = describe(G, D) + ("\n" + layer_tables(G, D) if cfg.model.arch == "keras" else "")
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines())


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


def _interrupted(e) -> int:
    r = e.result
    say(f"\ninterrupted at step {r.step}; checkpoint saved to {r.checkpoint}")
    say(f"continue with: gankit train --resume {r.run.path}")
    return 128 + int(e.signum if e.signum else signal.SIGINT)
