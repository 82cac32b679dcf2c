"""The ``gankit`` command: argument parsing and the one place that exits.

Each sub-command lives in its own module with ``add_parser`` and ``run``;
library code raises ``GankitError`` and this module turns it into one line on
stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from gankit.errors import GankitError

from . import (
    classifier,
    compare,
    dataset,
    evaluate,
    fid,
    generate,
    presets,
    reproduce,
    serve,
    train,
    tune,
)

COMMANDS = (
    train,
    tune,
    generate,
    evaluate,
    compare,
    fid,
    classifier,
    serve,
    dataset,
    presets,
    reproduce,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gankit",
        description="Train, sample and evaluate GANs on image datasets.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GankitError as e:
        # Under torchrun every rank meets the same configuration error: rank 0 says it once.
        if os.environ.get("RANK", "0") == "0" or e.every_rank:
            print(f"gankit: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings reach a user as one line each, like errors (no source file, no code line)."""
    if os.environ.get("RANK", "0") == "0":  # once per job under torchrun
        text = " ".join(str(message).split())
        print(f"gankit: warning: {text}", file=file or sys.stderr)


def entry() -> None:  # console script
    sys.exit(main())
