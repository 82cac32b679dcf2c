"""``gankit reproduce DOC``: a source document's experiments, trained, measured and reported
beside the document's own numbers; ``--list`` shows what each DOC runs and costs."""

from __future__ import annotations

import argparse
import sys

from gankit.errors import GankitError
from gankit.options import LUCIC, Options

from .options import add_field_flags, field_values


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
    add_field_flags(p, Options())
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
    from gankit.reproduce.runner import reproduce

    opts = Options(**field_values(args, Options))
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
