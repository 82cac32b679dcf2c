"""Writes a half-precision copy of the FID network, for machines it cannot travel to whole.

The standard TorchScript file is 87 MB; a copy with float16 weights is half that.
gankit loads any copy through ``$GANKIT_INCEPTION`` (its sha1 in
``$GANKIT_INCEPTION_SHA1``) and computes in float32 all the same, but the rounded
weights move pool3 features by a few tenths of a per cent, so FIDs from the copy
track progress and are never the standard figure: every report names the sha1 of
the file it used.

    python scripts/inception_half.py OUT.pt     # prints the two variables to export
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import warnings
from pathlib import Path

import torch

from gankit.errors import GankitError
from gankit.metrics import inception


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="where to write the copy")
    args = p.parse_args()
    if not args.out.parent.is_dir():
        print(
            f"error: no folder {args.out.parent} - create it or choose another path",
            file=sys.stderr,
        )
        return 2
    try:
        sha1 = write_half_copy(args.out)
    except GankitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(
            f"error: cannot write {args.out} ({e.strerror}) - choose another path", file=sys.stderr
        )
        return 2
    print(f"export {inception.ENV_PATH}={args.out.resolve()}")
    print(f"export {inception.ENV_SHA1}={sha1}")
    return 0


def write_half_copy(out: Path) -> str:
    """Writes the verified network with float16 weights to ``out``; returns the copy's sha1."""
    path, expected = inception.network_file()
    inception.verify(path, expected)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
        module.half()
        tmp = out.with_name(f".{out.name}.tmp")  # renamed in whole: never half a file at OUT
        try:
            torch.jit.save(module, str(tmp))
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    return hashlib.sha1(out.read_bytes()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
