"""Hostile data files made in a test's folder: images no honest encoder writes, odd
but valid images, CSV rows and IDX bytes, and a fingerprint of a folder tree."""

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
IMAGES = np.arange(4 * 28 * 28, dtype=np.int64).reshape(4, 28, 28) % 256


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(width: int, height: int, idat: bytes, bit_depth: int = 1) -> bytes:
    """A greyscale PNG with the given header and compressed data, taken on trust."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def write_bomb(path: Path) -> None:
    """10000 x 10000 black pixels in 12 KB: past MAX_IMAGE_PIXELS (about 89 million)."""
    side = 10_000
    assert side * side > Image.MAX_IMAGE_PIXELS
    rows = bytes((1 + side // 8) * side)  # filter byte 0 then 1-bit pixels, all zero
    path.write_bytes(png_bytes(side, side, zlib.compress(rows, 9)))


def write_huge_header(path: Path) -> None:
    """A PNG claiming 30000 x 30000 with a few bytes of data."""
    path.write_bytes(png_bytes(30_000, 30_000, zlib.compress(bytes(64)), bit_depth=8))


def truncated(path: Path, fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def solid(path: Path, colour=RED, size=(32, 32), mode="RGB", **save) -> None:
    Image.new(mode, size, colour).save(path, **save)


def two_good(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    solid(root / "good0.png", GREEN)
    solid(root / "good1.png", GREEN)
    return root


def cmyk(root: Path) -> None:
    solid(root / "cmyk.jpg", (0, 255, 255, 0), mode="CMYK", quality=95)  # pure red in CMYK


def sixteen_bit(root: Path) -> None:
    grey = np.full((32, 32), 128 * 257, dtype=np.uint16)  # 16-bit mid grey
    Image.fromarray(grey).save(root / "grey16.png")


def palette_transparency(root: Path) -> None:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (16, 0, 32, 32))  # right half green, left half transparent
    image.save(root / "palette.png", transparency=0)


def exif_rotated(root: Path) -> None:
    # Stored 32 wide: left red, right blue; orientation 6 says "turn 90 degrees clockwise".
    stored = np.zeros((16, 32, 3), dtype=np.uint8)
    stored[:, :16], stored[:, 16:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(root / "rotated.jpg", quality=95, exif=exif)


def animated(root: Path, name: str, **save) -> None:
    first, *rest = (Image.new("RGB", (32, 32), c) for c in (RED, BLUE, GREEN))
    first.save(root / name, save_all=True, append_images=rest, duration=100, loop=0, **save)


def one_pixel(root: Path) -> None:
    solid(root / "dot.png", (10, 200, 30), size=(1, 1))


def non_utf8_name(root: Path) -> None:
    with open(os.path.join(os.fsencode(root), b"caf\xe9-\xff.png"), "wb") as f:
        Image.new("RGB", (32, 32), RED).save(f, format="PNG")


HEADER = "label," + ",".join(f"pixel{i}" for i in range(1, 785))


def csv_text(*rows: list) -> str:
    return "\n".join([HEADER, *(",".join(map(str, row)) for row in rows)]) + "\n"


def row(label=3, value=7) -> list:
    return [label] + [value] * 784


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def idx_header(*shape: int) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def write_split(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))


def fingerprint(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed) -> what it is and what it holds."""
    found = {}
    for folder_path, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder_path, name)
            st = os.lstat(path)
            if os.path.islink(path):
                found[path] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                found[path] = ("file", digest, st.st_mode, st.st_mtime_ns)
            else:
                found[path] = ("other", st.st_mode, st.st_mtime_ns)
    return found
