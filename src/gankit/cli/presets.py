"""``gankit presets``: the named experiments, with the document each reproduces."""

from __future__ import annotations

import argparse

from gankit.presets import PRESETS


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the presets", description="List the presets.")
    p.add_argument("--show", metavar="NAME", help="print one preset's full config as YAML")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.show:
        from gankit.config import dump_yaml

        print(dump_yaml(PRESETS.get(args.show).config), end="")
        return 0
    width = max(map(len, PRESETS.names()))
    print(f"{'preset'.ljust(width)}  doc     what it trains")
    for name in PRESETS.names():
        p = PRESETS.get(name)
        print(f"{name.ljust(width)}  {p.source.ljust(6)}  {p.summary}")
    print("\nTrain one with: gankit train --preset NAME [--any-option VALUE]")
    return 0
