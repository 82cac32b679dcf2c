"""``gankit evaluate RUN``: FID per checkpoint, class checks and memorisation, as a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gankit.options import EvalOptions

from .options import add_field_flags, field_values


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
    add_field_flags(p, EvalOptions())
    p.add_argument("--out", type=Path, help="report folder (default: RUN/eval)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gankit.metrics.evaluate import evaluate_run
    from gankit.training import pick_device

    opts = EvalOptions(**field_values(args, EvalOptions))
    opts.device = pick_device(opts.device)
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
