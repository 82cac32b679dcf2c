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

from gankit.metrics import inception


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="where to write the copy")
    args = p.parse_args()
    path, expected = inception.network_file()
    inception.verify(path, expected)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
        module.half()
        torch.jit.save(module, str(args.out))
    sha1 = hashlib.sha1(args.out.read_bytes()).hexdigest()
    print(f"export {inception.ENV_PATH}={args.out.resolve()}")
    print(f"export {inception.ENV_SHA1}={sha1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
