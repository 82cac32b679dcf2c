"""``gankit compare RUN1 RUN2 ...``: one table of FID per checkpoint across evaluated runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare evaluated runs: FID (and accuracy) per checkpoint, one row per run",
        description="Read each run's eval/metrics.json (made by gankit evaluate RUN "
        "--checkpoint all) and write one table - rows: runs, columns: checkpoint steps - and "
        "a plot of FID against step, as compare.md and a self-contained compare.html.",
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="evaluated run folders")
    p.add_argument(
        "--out", type=Path, default=Path("compare"), help="output folder (default: ./compare)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gankit.metrics.report import COMPARE_FILE, write_comparison

    out = write_comparison(args.runs, args.out)
    print(f"wrote {out / 'compare.html'} (also {COMPARE_FILE} and compare_fid.png)")
    return 0
