"""``gankit tune``: a hyper-parameter search (Optuna) from a preset or config file."""

from __future__ import annotations

import argparse
from pathlib import Path

from gankit import config as config_io
from gankit.errors import GankitError
from gankit.presets import get_preset

from .options import add_config_flags, config_overrides


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="search hyper-parameters: many short runs chosen by Optuna, pruned early",
        description=(
            "Search hyper-parameters of a preset or config. Every trial is a run folder in "
            "STUDY/trials/; re-running the same command continues the study. Config flags "
            "set the base every trial starts from."
        ),
        # --seed is the search's own; it replaces the config flag of the same name.
        conflict_handler="resolve",
    )
    p.add_argument("--preset", default=None, help="start from this preset (default: fashion)")
    p.add_argument("--config", type=Path, help="start from this config.yaml instead of a preset")
    p.add_argument(
        "--space",
        type=Path,
        help="YAML file: config field -> {dist: loguniform|uniform|int|categorical, low, high, "
        "step, choices} (default: the preset family's space)",
    )
    p.add_argument(
        "--trials",
        type=int,
        required=True,
        help="finished trials the study should have (re-running continues up to it)",
    )
    p.add_argument(
        "--minutes-per-trial", type=float, help="time budget of each trial (train.max_minutes)"
    )
    p.add_argument(
        "--objective",
        help="classifier_fid (labelled data; default there) or fid (Inception FID vs the "
        "test split; default otherwise), on --eval-samples images",
    )
    p.add_argument(
        "--study", type=Path, help="study folder (default: studies/PRESET or studies/CONFIG)"
    )
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///STUDY/study.db)")
    p.add_argument("--workers", type=int, default=1, help="trials at once, one process each")
    add_config_flags(p)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the search (the sampler); every trial trains with the base's own seed",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gankit.tune import run_study  # imported here: `gankit --help` should not pay for torch

    if args.preset and args.config:
        raise GankitError("give --preset or --config, not both")
    base = config_io.load(args.config) if args.config else get_preset(args.preset or "fashion")
    base = config_io.override(base, config_overrides(args))
    name = args.config.stem if args.config else base.preset
    study = args.study or Path("studies") / name
    result = run_study(
        base,
        study_dir=study,
        trials=args.trials,
        space=args.space,
        objective=args.objective,
        minutes_per_trial=args.minutes_per_trial,
        storage=args.storage,
        workers=args.workers,
        seed=args.seed,
        say=lambda line: print(line, flush=True),
    )
    if result.best_config is not None:
        print(f"train the best: gankit train --config {result.best_config}")
    return 0
