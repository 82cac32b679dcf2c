"""Reads IDX files (the MNIST / Fashion-MNIST format), gzipped or raw.

Owns decoding only: images come back as uint8 [N, 1, H, W], labels as int64
[N], exactly as stored. Nothing is normalised or resized here.

Format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
data in row-major order. Both datasets use type 0x08 (unsigned byte).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from gankit.errors import GankitError

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise GankitError(f"cannot read {path} ({e.strerror or e}) - check the file") from None
    # Detect gzip by content, not by name, so a renamed file still reads.
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise GankitError(
            f"{path} is a damaged gzip file ({e}) - delete it and download it again"
        ) from None


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Reads an unsigned-byte IDX file with ``ndim`` dimensions into a numpy array.

    Raises:
        GankitError: the file is missing, not IDX, of another shape, or truncated.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise GankitError(f"{path} is not an IDX file (bad magic number) - check the file")
    if data[2] != _UBYTE or data[3] != ndim:
        raise GankitError(
            f"{path} is an IDX file of type 0x{data[2]:02x} with {data[3]} dimensions, "
            f"expected type 0x{_UBYTE:02x} with {ndim} - is it the right file?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GankitError(f"{path} is truncated (header incomplete) - download it again")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise GankitError(
            f"{path} is {what} ({len(data)} bytes, expected {expected} for shape {shape}) "
            "- download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_images(path: str | Path) -> torch.Tensor:
    """Reads an idx3 image file as uint8 [N, 1, H, W]."""
    array = read_idx(path, ndim=3)
    # frombuffer gives a read-only view of the bytes; copy once into a tensor we own.
    return torch.from_numpy(array.copy()).unsqueeze(1).contiguous()


def read_labels(path: str | Path) -> torch.Tensor:
    """Reads an idx1 label file as int64 [N]."""
    return torch.from_numpy(read_idx(path, ndim=1).astype(np.int64))
