"""Reads IDX files (the MNIST / Fashion-MNIST format), gzipped or raw.

Owns decoding only: images come back as uint8 [N, 1, H, W], labels as int64
[N], exactly as stored. Nothing is normalised or resized here. Files are read
as a stream, never more than the header declares (plus one byte), and a header
declaring more than ``MAX_BYTES`` is refused, so neither a damaged header nor a
gzip bomb can make it allocate gigabytes.

Format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
data in row-major order. Both datasets use type 0x08 (unsigned byte).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from gankit.errors import GankitError

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
# Far above any IDX dataset (EMNIST's largest split is 0.64 GB): a header asking for
# more is damaged or hostile, and is refused before a byte is allocated for it.
MAX_BYTES = 1 << 32
_CHUNK = 1 << 20


def _open(path: Path) -> BinaryIO:
    """The file's bytes as a stream, through gzip when the content (not the name) says so."""
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == _GZIP_MAGIC
        return gzip.open(path, "rb") if gzipped else open(path, "rb")
    except OSError as e:
        raise GankitError(f"cannot read {path} ({e.strerror or e}) - check the file") from None


def _read_up_to(stream: BinaryIO, n: int) -> bytearray:
    """At most ``n`` bytes; grows with what is really there, so a false size costs nothing."""
    buffer = bytearray()
    while len(buffer) < n:
        chunk = stream.read(min(_CHUNK, n - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _shape(path: Path, header: bytes, ndim: int) -> tuple[int, ...]:
    """The sizes the header declares, after checking it is an IDX header of this kind."""
    if len(header) < 4 or header[0] != 0 or header[1] != 0:
        raise GankitError(f"{path} is not an IDX file (bad magic number) - check the file")
    if header[2] != _UBYTE or header[3] != ndim:
        raise GankitError(
            f"{path} is an IDX file of type 0x{header[2]:02x} with {header[3]} dimensions, "
            f"expected type 0x{_UBYTE:02x} with {ndim} - is it the right file?"
        )
    if len(header) < 4 + 4 * ndim:
        raise GankitError(f"{path} is truncated (header incomplete) - download it again")
    return struct.unpack(f">{ndim}I", header[4:])


def _read_body(path: Path, stream: BinaryIO, shape: tuple[int, ...]) -> bytearray:
    # Python integers: the product of three 32-bit sizes overflows int64.
    expected = math.prod(shape)
    if expected == 0:
        raise GankitError(f"{path} holds no data (shape {shape}) - is it the right file?")
    if expected > MAX_BYTES:
        raise GankitError(
            f"{path} declares shape {shape}, {expected:,} bytes of pixels, more than the "
            f"{MAX_BYTES:,} gankit reads - the header is damaged; download the file again"
        )
    body = _read_up_to(stream, expected + 1)  # one byte more reveals a longer file
    if len(body) != expected:
        what = "truncated" if len(body) < expected else "longer than its header says"
        got = f"{len(body)} bytes" if len(body) < expected else f"over {expected} bytes"
        raise GankitError(
            f"{path} is {what} ({got} of data, expected {expected} for shape {shape}) "
            "- download it again"
        )
    return body


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Reads an unsigned-byte IDX file with ``ndim`` dimensions into a numpy array.

    Raises:
        GankitError: the file is missing, not IDX, of another shape, truncated, or
            declares more than ``MAX_BYTES`` of data.
    """
    path = Path(path)
    try:
        with _open(path) as stream:
            shape = _shape(path, _read_up_to(stream, 4 + 4 * ndim), ndim)
            body = _read_body(path, stream, shape)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise GankitError(
            f"{path} is a damaged gzip file ({e}) - delete it and download it again"
        ) from None
    except OSError as e:
        raise GankitError(f"cannot read {path} ({e.strerror or e}) - check the file") from None
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def read_images(path: str | Path) -> torch.Tensor:
    """Reads an idx3 image file as uint8 [N, 1, H, W]."""
    # The array views a bytearray of our own (writable), so the tensor shares it: no copy.
    return torch.from_numpy(read_idx(path, ndim=3)).unsqueeze(1).contiguous()


def read_labels(path: str | Path) -> torch.Tensor:
    """Reads an idx1 label file as int64 [N]."""
    return torch.from_numpy(read_idx(path, ndim=1).astype(np.int64))
