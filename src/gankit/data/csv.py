"""Reads the Kaggle CSV form of (Fashion-)MNIST: ``label,pixel1,...,pixel784``.

One 28x28 grey image per row, the label first. Kaggle's digit-recognizer
numbers its columns ``pixel0..pixel783``; both are accepted. Decodes to uint8
[N, 1, 28, 28] and int64 labels with numpy's C parser (about 1.5 s for 60,000
rows), never normalising.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from gankit.data.imagedata import DIGIT_CLASSES, FASHION_MNIST_CLASSES, ImageData
from gankit.errors import GankitError

SIDE = 28
PIXELS = SIDE * SIDE
MAX_LABEL = 9999  # class names are made for labels 0..max: a wild label must not make billions
_HEADER_CHARS = 1 << 16  # the real header is ~7,000 characters; a longer line is not one


def _check_header(path: Path) -> None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            # Bounded, so a file with no line breaks is not read whole just to be refused.
            header = f.readline(_HEADER_CHARS).strip().lstrip("\ufeff")  # Excel writes a BOM
    except OSError as e:
        raise GankitError(f"cannot read {path} ({e.strerror or e}) - check the path") from None
    if not header:
        raise GankitError(
            f"{path} is empty - a CSV needs the header 'label,pixel1,...,pixel{PIXELS}' and "
            "one row per image"
        )
    columns = [c.strip().strip('"').lower() for c in header.split(",")]
    expected = f"'label,pixel1,...,pixel{PIXELS}' ({PIXELS + 1} columns, 28x28 grey images)"
    if not columns or columns[0] != "label" or not all(c.startswith("pixel") for c in columns[1:]):
        raise GankitError(
            f"{path} does not start with the header {expected} - "
            "convert it to that form or use an image folder"
        )
    if len(columns) != PIXELS + 1:
        raise GankitError(
            f"{path} has {len(columns)} columns, expected {expected} - "
            "only 28x28 grey CSVs are supported; use an image folder for other sizes"
        )


def csv_class_names(path: Path, labels: np.ndarray) -> list[str]:
    """Fashion-MNIST names for a file called *fashion* with labels 0..9, else digits."""
    top = int(labels.max()) if labels.size else 0
    if top <= 9 and "fashion" in path.name.lower():
        return list(FASHION_MNIST_CLASSES)
    return DIGIT_CLASSES[: top + 1] if top <= 9 else [str(i) for i in range(top + 1)]


def read_csv(path: str | Path, min_images: int = 1) -> ImageData:
    """Reads a Kaggle-style (Fashion-)MNIST CSV file.

    Raises:
        GankitError: wrong header or column count, bad values, or fewer than
            ``min_images`` rows.
    """
    path = Path(path)
    _check_header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input file": reported below instead
            rows = np.loadtxt(path, delimiter=",", dtype=np.int32, skiprows=1, ndmin=2)
    except ValueError as e:
        detail = str(e).splitlines()[0]
        raise GankitError(
            f"{path} is not a clean CSV of integers ({detail}) - fix the row it names"
        ) from None
    if rows.shape[0] < max(min_images, 1):
        raise GankitError(
            f"{path} has {rows.shape[0]} image rows, fewer than min_images={min_images} - "
            "add rows or lower --min-images"
        )
    labels, pixels = rows[:, 0], rows[:, 1:]
    if labels.min() < 0:
        raise GankitError(f"{path} has negative labels - labels must be 0, 1, 2, ...")
    if labels.max() > MAX_LABEL:
        raise GankitError(
            f"{path} has label {labels.max()}, above {MAX_LABEL} - labels must number the "
            "classes 0, 1, 2, ..."
        )
    if pixels.min() < 0 or pixels.max() > 255:
        raise GankitError(f"{path} has pixel values outside 0..255 - store 8-bit grey levels")
    images = torch.from_numpy(pixels.astype(np.uint8).reshape(-1, 1, SIDE, SIDE))
    return ImageData(
        images=images.contiguous(),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=csv_class_names(path, labels),
        name=str(path),
        source=f"CSV file {path.resolve()} ({rows.shape[0]} rows)",
    )
