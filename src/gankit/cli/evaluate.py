"""``gankit evaluate RUN``: FID per checkpoint, class checks and memorisation, as a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a run: FID per checkpoint, class checks, memorisation; writes a report",
        description="Evaluate a run against its own dataset with the standard TF-Inception-v3 "
        "features (299x299 bilinear) and, for a labelled dataset, the dataset's classifier. "
        "Writes RUN/eval/report.md, a self-contained report.html, metrics.json and the "
        "pictures; the old eval/ is replaced only when the new one is complete.",
    )
    p.add_argument("run", type=Path, metavar="RUN", help="run folder made by gankit train")
    p.add_argument(
        "--checkpoint",
        "--checkpoints",  # `--checkpoints all` reads naturally too
        dest="checkpoint",
        default="latest",
        help="'latest', a step number, or 'all' (one table row per checkpoint; default: latest)",
    )
    p.add_argument(
        "--n",
        type=int,
        default=10_000,
        help="generated images per checkpoint, and reference images (default: 10000)",
    )
    p.add_argument(
        "--reference",
        choices=("test", "train"),
        help="dataset split to compare with (default: test; train for an image folder)",
    )
    _add_check_flags(p)
    p.add_argument("--batch-size", type=int, default=64, help="images per network call")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--seed", type=int, default=0, help="generated image i from seed SEED+i; real subsets"
    )
    p.add_argument("--out", type=Path, help="report folder (default: RUN/eval)")
    p.set_defaults(func=run)


def _add_check_flags(p: argparse.ArgumentParser) -> None:
    """The flags that choose what is computed beyond FID."""
    p.add_argument("--kid", action="store_true", help="also the Kernel Inception Distance")
    p.add_argument(
        "--prdc", action="store_true", help="also precision, recall, density and coverage"
    )
    p.add_argument(
        "--classes",
        action=argparse.BooleanOptionalAction,
        help="class checks with the dataset's classifier (default: when the dataset is labelled)",
    )
    p.add_argument(
        "--memorization",
        type=int,
        default=16,
        metavar="M",
        help="generated images checked for near-copies of real ones; 0 = off (default: 16)",
    )
    p.add_argument(
        "--tstr",
        action="store_true",
        help="train-on-synthetic / test-on-real accuracies (conditional runs; slow)",
    )
    p.add_argument(
        "--floor",
        action="store_true",
        help="also the FID of N real train images vs the reference: the best attainable (slow)",
    )


def run(args: argparse.Namespace) -> int:
    from gankit.metrics.evaluate import EvalOptions, evaluate_run
    from gankit.training import pick_device

    opts = EvalOptions(
        checkpoint=args.checkpoint,
        n=args.n,
        reference=args.reference or "",
        kid=args.kid,
        prdc=args.prdc,
        classes=args.classes,
        memorization=args.memorization,
        tstr=args.tstr,
        floor=args.floor,
        batch_size=args.batch_size,
        device=pick_device(args.device),
        seed=args.seed,
    )
    result, out = evaluate_run(args.run, opts, out=args.out, say=_progress)
    print(format_summary(result, out))
    return 0


def format_summary(result: dict, out: Path) -> str:
    """FID (and accuracy) per checkpoint, the best one, and where the report is."""
    lines = []
    for row in result["checkpoints"]:
        accuracy = f", accuracy {row['accuracy']:.2%}" if row.get("accuracy") is not None else ""
        lines.append(f"step {row['step']:,}: FID {row['fid']:.2f}{accuracy}")
    best = result["best"]
    if len(lines) > 1:
        lines.append(f"best: step {best['step']:,} (FID {best['fid']:.2f})")
    lines.append(f"wrote {out / 'report.html'} (and report.md, metrics.json, the pictures)")
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
