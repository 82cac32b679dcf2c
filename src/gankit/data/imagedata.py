"""The in-memory dataset record every loader returns, its channel statistics, class lookup.

``ImageData`` holds the whole dataset as one uint8 NCHW tensor on the CPU (it
becomes float only on the device, once). ``channel_statistics`` measures the
per-channel mean and standard deviation a channel-normalised run trains with.
``label_index`` turns what a user types for a class ("Sandal", "ankle boot",
"5") into its integer label.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import torch

from gankit.errors import GankitError

FASHION_MNIST_CLASSES = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
]
DIGIT_CLASSES = [str(i) for i in range(10)]  # MNIST


@dataclass
class ImageData:
    """A whole dataset in memory.

    Attributes:
        images: uint8 [N, C, H, W], contiguous, on the CPU.
        labels: int64 [N], or None when the data is unlabelled.
        class_names: label -> name ([] when unlabelled).
        name: "fashion-mnist", "mnist", "shapes", or the folder / .csv path.
        source: where the files were found or how the images were made.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str]
    name: str
    source: str


_STATS_CHUNK = 1024  # images summed at once, bounding the float64 working memory


def channel_statistics(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) standard deviation of uint8 [N, C, H, W], in [0, 1].

    Summed in float64 chunk by chunk, so the figures do not depend on how the
    data is split and a large dataset never becomes one float copy; rounded to
    6 decimals, which is how they are written to a run's config.
    """
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], _STATS_CHUNK):
        x = images[start : start + _STATS_CHUNK].double().div_(255)
        total += x.sum((0, 2, 3))
        squares += x.square().sum((0, 2, 3))
    count = images.numel() // max(channels, 1)
    mean = total / count
    std = (squares / count - mean.square()).clamp_(min=0).sqrt()
    return [round(v, 6) for v in mean.tolist()], [round(v, 6) for v in std.tolist()]


def _key(text: str) -> str:
    # Case, spaces, underscores and hyphens do not distinguish class names.
    return "".join(c for c in text.strip().lower() if c not in " _-")


def label_index(class_names: list[str], label: str | int) -> int:
    """Returns the integer label for a class name or index.

    Names match case-insensitively with spaces, underscores and hyphens ignored
    ("Ankle boot" == "ankle-boot"); a name with "/" matches by any of its parts
    ("t-shirt/top"). A number (int or digit string) is an index when no class
    has that name.

    Raises:
        GankitError: the dataset is unlabelled, or the label is unknown / out of range.
    """
    if not class_names:
        raise GankitError(
            "this dataset has no labels - train on labelled data (e.g. an image folder "
            "with one subfolder per class) to sample by class"
        )
    valid = f"valid: 0-{len(class_names) - 1} or {', '.join(class_names)}"
    if isinstance(label, int) and not isinstance(label, bool):
        if 0 <= label < len(class_names):
            return label
        raise GankitError(f"label {label} is out of range ({valid})")
    text = str(label).strip()
    if text.startswith("-") and text[1:].isdigit():
        # Checked before name matching, which ignores hyphens ("-1" would match "1").
        raise GankitError(f"label {text} is out of range ({valid})")
    keys = [_key(name) for name in class_names]
    for candidate in [text, *text.split("/")]:
        if _key(candidate) in keys:
            return keys.index(_key(candidate))
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is not None:
        if 0 <= number < len(class_names):
            return number
        raise GankitError(f"label {number} is out of range ({valid})")
    close = difflib.get_close_matches(text.lower(), class_names, n=1)
    hint = f" - did you mean {close[0]!r}?" if close else ""
    raise GankitError(f"unknown label {text!r}{hint} ({valid})")
