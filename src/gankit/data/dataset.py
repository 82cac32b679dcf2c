"""Turns a ``DataConfig`` into an ``ImageData``: which loader, then one resize.

Owns: recognising what ``cfg.dataset`` names (built-in, image folder, CSV, ``nlvr:PATH``),
checking the data options, dispatching to the loader, converting the whole
dataset once, vectorised, to ``cfg.img_size`` / ``cfg.channels`` (0 keeps the
dataset's own), and completing the normalisation from the data
(``resolve_normalization``). Images stay uint8 on the CPU; scaling happens on
the device, elsewhere.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.config import DataConfig
from gankit.data import folder, idx, nlvr, shapes, sources
from gankit.data.csv import read_csv
from gankit.data.imagedata import (
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    ImageData,
    channel_statistics,
)
from gankit.errors import GankitError
from gankit.registry import unknown_name_message

BUILTINS = ("fashion-mnist", "mnist", "shapes")
SPLITS = ("train", "test")
NORMALIZATIONS = ("minmax", "channel")
MAX_ROTATION = 180.0  # degrees; beyond it the range of angles only repeats
FOLDER_DEFAULT_SIZE = 64  # image folders have no single size of their own
_NATIVE = {
    "fashion-mnist": (28, 1),
    "mnist": (28, 1),
    "csv": (28, 1),
    "shapes": (64, 3),
    "nlvr": (nlvr.NATIVE_SIZE, 3),
}
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's convert("L")
_CHUNK = 4096  # images converted at once, bounding the float working memory


def _builtin_key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def dataset_kind(name: str) -> str:
    """Returns "fashion-mnist", "mnist", "shapes", "nlvr", "folder" or "csv" for ``cfg.dataset``.

    Built-in names win over a folder of the same name in the working directory
    (write ``./shapes`` for the folder); ``nlvr:PATH`` names the NLVR release at PATH.

    Raises:
        GankitError: an unknown name, a path that is neither a folder nor a .csv file,
            or an ``nlvr:`` spec without its folder.
    """
    if nlvr.is_spec(name):
        nlvr.spec_root(name)  # checks the folder now, not after minutes
        return "nlvr"
    if _builtin_key(name) in BUILTINS:
        return _builtin_key(name)
    path = Path(name).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "csv"
        raise GankitError(
            f"{name} is a file, not an image folder or a .csv file - give the folder "
            "that holds the images"
        )
    if name.lower().endswith(".csv") or os.sep in name or "/" in name or name.startswith("~"):
        raise GankitError(f"no such folder or file: {name} - check the path")
    if _builtin_key(name) == "nlvr":
        raise GankitError(f"NLVR is not on this machine - {nlvr.GET_IT}")
    message = unknown_name_message("dataset", name, list(BUILTINS))
    raise GankitError(
        f"{message}; a path to an image folder or a .csv file, or nlvr:PATH, is also accepted"
    )


def check_options(cfg: DataConfig) -> None:
    """Checks the augmentation and normalisation options, before anything is loaded.

    Raises:
        GankitError: one line naming the option and its valid range.
    """
    if not 0 <= cfg.rotate_degrees <= MAX_ROTATION:
        raise GankitError(
            f"rotate_degrees must be in [0, {MAX_ROTATION:g}], got {cfg.rotate_degrees:g} - "
            "use e.g. 10 (0 = no rotation)"
        )
    if cfg.crop_padding < 0:
        raise GankitError(f"crop_padding must be 0 or more, got {cfg.crop_padding} - 0 = no crop")
    if cfg.normalize not in NORMALIZATIONS:
        raise GankitError(unknown_name_message("normalize", cfg.normalize, list(NORMALIZATIONS)))
    given = cfg.normalize_mean or cfg.normalize_std
    if given and cfg.normalize != "channel":
        raise GankitError(
            "normalize_mean / normalize_std are given but normalize is "
            f"{cfg.normalize} - add --normalize channel or drop them"
        )
    if bool(cfg.normalize_mean) != bool(cfg.normalize_std):
        raise GankitError("give both normalize_mean and normalize_std, or neither (= measured)")
    if any(not 0 < std < math.inf for std in cfg.normalize_std):
        raise GankitError(
            f"normalize_std must be positive for every channel, got {cfg.normalize_std} - "
            "a std of 0 would divide by zero"
        )


def _check_crop(cfg: DataConfig, size: int) -> None:
    if cfg.crop_padding >= size:
        raise GankitError(
            f"crop_padding {cfg.crop_padding} is not smaller than the {size} px images - "
            f"use at most {size - 1}, e.g. {max(1, size // 8)}"
        )


def resolve_normalization(cfg: DataConfig, data: ImageData) -> DataConfig:
    """``cfg`` with a channel normalisation's mean and std completed from ``data``.

    Measured over the loaded (training) images when not given; a resumed run keeps
    the figures its config holds. Minmax configs come back unchanged.

    Raises:
        GankitError: the figures do not match the images' channels, or a channel
            has no variation to divide by.
    """
    if cfg.normalize != "channel":
        return cfg
    channels = int(data.images.shape[1])
    mean, std = cfg.normalize_mean, cfg.normalize_std
    if not mean:
        mean, std = channel_statistics(data.images)
    if len(mean) != channels or len(std) != channels:
        raise GankitError(
            f"normalize_mean / normalize_std give {len(mean)} / {len(std)} values for "
            f"{channels}-channel images - give one per channel"
        )
    if min(std) <= 0:
        raise GankitError(
            f"channel std {std} of {cfg.dataset} has a 0: a channel never changes - "
            "use --normalize minmax"
        )
    return dataclasses.replace(cfg, normalize_mean=list(mean), normalize_std=list(std))


def _output_size(cfg: DataConfig, kind: str) -> tuple[int, int]:
    """(size, channels) that loaders decode straight to, where they can."""
    if cfg.img_size < 0 or cfg.img_size == 1 or cfg.img_size > 4096:
        raise GankitError(f"img_size {cfg.img_size} is not a usable size - use 0 or e.g. 32, 64")
    if cfg.channels not in (0, 1, 3):
        raise GankitError(f"channels must be 0 (the dataset's own), 1 or 3, got {cfg.channels}")
    size, channels = native_shape(cfg, kind)
    return cfg.img_size or size, cfg.channels or channels


def native_shape(cfg: DataConfig, kind: str | None = None) -> tuple[int, int]:
    """(img_size, channels) of the dataset as it comes, without loading it.

    Image folders have no size of their own: they are decoded at ``cfg.img_size``
    (64 when 0) in RGB, so that is their native shape.
    """
    kind = kind or dataset_kind(cfg.dataset)
    if kind == "folder":
        return cfg.img_size or FOLDER_DEFAULT_SIZE, 3
    return _NATIVE[kind]


def convert_images(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Resizes uint8 [N, C, H, W] to ``size`` square and converts to ``channels``.

    Bilinear, antialiased when shrinking; RGB -> grey by ITU-R 601 luma, grey -> RGB by
    repetition. Rounds once at the end. Returns the input itself when nothing changes.
    """
    n, c, h, w = images.shape
    if (h, w) == (size, size) and c == channels:
        return images
    out = torch.empty(n, channels, size, size, dtype=torch.uint8)
    luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
    for start in range(0, n, _CHUNK):
        x = images[start : start + _CHUNK].float()
        if c == 3 and channels == 1:
            x = (x * luma).sum(1, keepdim=True)  # before resizing: a third of the work
        if (h, w) != (size, size):
            shrink = size < h or size < w
            x = F.interpolate(
                x, size=(size, size), mode="bilinear", antialias=shrink, align_corners=False
            )
        x = x.round_().clamp_(0, 255).to(torch.uint8)
        if x.shape[1] == 1 and channels == 3:
            x = x.expand(-1, 3, -1, -1)  # after resizing: a third of the work
        out[start : start + _CHUNK] = x
    return out


def _load_idx(cfg: DataConfig, kind: str, split: str) -> ImageData:
    images_path, labels_path, source = sources.locate(kind, split, cfg.data_dir)
    images, labels = idx.read_images(images_path), idx.read_labels(labels_path)
    if images.shape[0] != labels.shape[0]:
        raise GankitError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} "
            f"{labels.shape[0]} labels - the two files are from different sets"
        )
    names = FASHION_MNIST_CLASSES if kind == "fashion-mnist" else DIGIT_CLASSES
    return ImageData(images, labels, list(names), kind, source)


def _load_shapes(cfg: DataConfig, split: str) -> ImageData:
    if cfg.shapes_count < 1:
        raise GankitError(f"shapes_count must be at least 1, got {cfg.shapes_count}")
    seed, count = shapes.split_seed_and_count(cfg.shapes_seed, cfg.shapes_count, split)
    # Drawn straight at the model size where that is sensible: crisper than resizing.
    size = cfg.img_size if 16 <= cfg.img_size <= 256 else shapes.NATIVE_SIZE
    images, labels = shapes.generate_shapes(count, seed, size)
    source = f"generated: {count} images at {size} px from seed {seed}"
    return ImageData(images, labels, list(shapes.CLASS_NAMES), "shapes", source)


def _csv_for_split(path: Path, split: str) -> Path:
    """The test split of ``x_train.csv`` is its sibling ``x_test.csv``."""
    if split == "train":
        return path
    sibling = path.with_name(path.name.replace("train", "test"))
    if "train" in path.name and sibling.is_file():
        return sibling
    if "test" in path.name:
        return path
    raise GankitError(
        f"no test split for {path} - put the test rows in a file named like it with "
        "'test' for 'train' (e.g. fashion-mnist_test.csv beside fashion-mnist_train.csv)"
    )


def load_dataset(cfg: DataConfig, split: str | None = None) -> ImageData:
    """Loads the dataset ``cfg`` names, at ``cfg.img_size`` and ``cfg.channels``.

    Args:
        cfg: the data options.
        split: "train" or "test"; overrides ``cfg.split``. Image folders have only
            a train split; a CSV's test split is its sibling file (see ``_csv_for_split``);
            NLVR's is its ``test`` folder (see ``nlvr.split_folder``).

    Raises:
        GankitError: for any problem the user can fix (names, paths, files, options).
    """
    split = split or cfg.split
    if split not in SPLITS:
        raise GankitError(f"unknown split {split!r} - use train or test")
    check_options(cfg)
    kind = dataset_kind(cfg.dataset)
    size, channels = _output_size(cfg, kind)
    _check_crop(cfg, size)
    if kind in ("fashion-mnist", "mnist"):
        data = _load_idx(cfg, kind, split)
    elif kind == "shapes":
        data = _load_shapes(cfg, split)
    elif kind == "nlvr":
        data = nlvr.load_nlvr(nlvr.spec_root(cfg.dataset), split, size, cfg.min_images)
    elif kind == "csv":
        data = read_csv(_csv_for_split(Path(cfg.dataset).expanduser(), split), cfg.min_images)
    else:
        if split != "train":
            raise GankitError(
                f"image folder {cfg.dataset} has no test split - use split train, "
                "or point --dataset at a folder of held-out images"
            )
        data = folder.load_folder(cfg.dataset, size, channels, cfg.use_labels, cfg.min_images)
    data.images = convert_images(data.images, size, channels)
    return data
