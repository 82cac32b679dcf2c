"""``gankit reproduce DOC``: a source document's experiments, trained, measured and reported
beside the document's own numbers; ``--list`` shows what each DOC runs and costs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gankit.errors import GankitError

LUCIC = "lucic-fashion"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce a source document's experiments; report them beside its numbers",
        description="Train each experiment of a source document with its settings, evaluate "
        "it where the document did, and write OUT/REPORT.md and a self-contained "
        "OUT/report.html whose tables hold the document's number and gankit's in each cell. "
        "Running the same command again resumes where it stopped. See --list.",
    )
    p.add_argument("doc", nargs="?", metavar="DOC", help="a document (e.g. 003-four-gans or 003)")
    p.add_argument("--list", action="store_true", help="list the documents: runs, evaluation, cost")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="train this fraction of the document's epochs/iterations (default 1; e.g. 0.01)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--out", type=Path, help="output folder (default: reproductions/DOC[-xSCALE])")
    p.add_argument(
        "--fid-n",
        type=int,
        default=0,
        metavar="N",
        help="generated images per FID (default: the document's N x scale, at least 1000)",
    )
    p.add_argument("--flowers", default="", metavar="DIR", help="folder of Oxford-102 flowers")
    p.add_argument("--art", default="", metavar="DIR", help="folder of abstract art (seed 002)")
    p.add_argument("--data-dir", default="", help="where to look first for (Fashion-)MNIST files")
    p.add_argument(
        "--trials",
        type=int,
        default=0,
        help=f"{LUCIC}: search trials per objective (default: the paper's 100)",
    )
    p.add_argument(
        "--objectives",
        default="",
        metavar="A,B",
        help=f"{LUCIC}: the objectives to search (default: every one gankit has)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar while training")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gankit.reproduce.catalog import check_scale, find_document

    if args.list:
        from gankit.reproduce.listing import listing

        print(listing())
        return 0
    if not args.doc:
        raise GankitError("give a DOC to reproduce (e.g. gankit reproduce 003) - see --list")
    doc = find_document(args.doc, extra=(LUCIC,), aliases={"lucic": LUCIC})
    check_scale(args.scale)  # before anything slow
    from gankit import training
    from gankit.reproduce.runner import Options, reproduce

    opts = Options(
        scale=args.scale,
        device=args.device,
        out=args.out,
        fid_n=args.fid_n,
        flowers=args.flowers,
        art=args.art,
        data_dir=args.data_dir,
        trials=args.trials,
        objectives=args.objectives,
        progress=not args.quiet,
    )
    try:
        if doc == LUCIC:
            from gankit.reproduce.lucic import reproduce_lucic

            reproduce_lucic(opts, say=_say)
        else:
            reproduce(doc, opts, say=_say)
    except training.Interrupted as e:
        print(f"\ninterrupted at step {e.result.step:,}; checkpoint saved", file=sys.stderr)
        print("continue with the same gankit reproduce command", file=sys.stderr)
        return 130
    return 0


def _say(line: str) -> None:
    print(line, flush=True)
