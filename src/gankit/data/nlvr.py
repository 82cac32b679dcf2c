"""Reads the NLVR corpus (Suhr et al. 2017) as its boxes: three uint8 RGB images per picture.

Owns: the ``nlvr:PATH`` dataset spec, the public release layout, cutting each
picture into its three boxes, and their decoded-tensor cache.

The release (github.com/lil-lab/nlvr, folder ``nlvr/``) has one folder per split
(``train``, ``dev``, ``test``), each holding ``<split>.json`` - one JSON object a
line with ``identifier`` ("n-m") and ``directory`` - and ``images/<directory>/
<split>-<identifier>-<k>.png``, k = 0..5 being the six orders of the same three
boxes. ``PATH`` is one split folder or the folder holding them; gankit's test
split is NLVR's ``test`` folder, found beside the train folder.

Each picture is three boxes of coloured shapes separated by two grey bars. As in
the GAN experiments that use NLVR for shapes (boxes isolated, resized to 64x64,
unlabelled), each example gives its three boxes once: only its lowest k is read,
since the other five orders hold the same boxes. The bars are found from the
pixels - columns of one neutral grey over the full height - so no offsets are
assumed; a picture without two such bars is cut as NLVR draws it (three squares
of the picture's height spread evenly across its width) and counted in a warning.
Missing or unreadable pictures are skipped and reported once. The boxes are cached
in ``cache_root()/folders/nlvr-<key>.safetensors``, the key hashing the JSON file,
every chosen picture's path, size and mtime, and the output size.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from gankit.data.cache import cache_root, load_tensors, save_tensors
from gankit.data.folder import _skip_reason, _to_rgb_or_l, _warn_skipped
from gankit.data.imagedata import ImageData
from gankit.errors import GankitError

PREFIX = "nlvr:"
NATIVE_SIZE = 64  # the side the boxes are resized to, as in the experiments using NLVR
BOXES = 3
FORMAT_VERSION = 1  # bump when cutting or decoding changes, so old caches are not reused
GET_IT = (
    "download the images from github.com/lil-lab/nlvr (nlvr/train: images/ and train.json) "
    "and pass --dataset nlvr:PATH"
)
# A bar column: every pixel within this many levels of the others, R, G and B within it of
# each other, and its brightness inside GREY_LEVELS (white box insides and black ink are not).
BAR_TOLERANCE = 12
GREY_LEVELS = (32, 240)
_PICTURE = re.compile(r"^[a-z0-9]+-(?P<identifier>\d+-\d+)-(?P<order>\d+)\.png$", re.IGNORECASE)


def is_spec(name: str) -> bool:
    """True when ``cfg.dataset`` names NLVR (``nlvr:PATH``)."""
    return name.strip().lower().startswith(PREFIX)


def spec_root(name: str) -> Path:
    """The folder an ``nlvr:PATH`` spec names.

    Raises:
        GankitError: no path given, or no folder there.
    """
    path = name.strip()[len(PREFIX) :].strip()
    if not path:
        raise GankitError(f"nlvr: needs a path - {GET_IT}")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise GankitError(f"NLVR is not at {root} (no such folder) - {GET_IT}")
    return root


def _is_split_folder(path: Path) -> bool:
    return (path / "images").is_dir()


def split_folder(root: Path, split: str) -> Path:
    """The NLVR split folder (holding ``images/``) to read for gankit's ``split``.

    Raises:
        GankitError: ``root`` is not NLVR-shaped, or has no test split beside it.
    """
    if _is_split_folder(root):
        if split == "train" or root.name.lower() == "test":
            return root
        if _is_split_folder(root.parent / "test"):
            return root.parent / "test"
        raise GankitError(
            f"no NLVR test split beside {root} - put the release's test folder "
            f"(test/images, test.json) at {root.parent / 'test'}, or use split train"
        )
    if _is_split_folder(root / split):
        return root / split
    raise GankitError(
        f"{root} is not an NLVR folder (no images/ subfolder, and no {split}/images) - "
        f"give the split folder of the release, e.g. nlvr:.../nlvr/train; {GET_IT}"
    )


def json_file(folder: Path) -> Path:
    """The split's JSON lines file: ``<folder name>.json``, else the only ``*.json`` there.

    Raises:
        GankitError: none, or several with none named after the folder.
    """
    named = folder / f"{folder.name}.json"
    if named.is_file():
        return named
    found = sorted(p for p in folder.glob("*.json") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise GankitError(
            f"no NLVR JSON file in {folder} beside images/ - copy {folder.name}.json from "
            "the release (github.com/lil-lab/nlvr) into it"
        )
    names = ", ".join(p.name for p in found)
    raise GankitError(
        f"several JSON files in {folder} ({names}) - keep only the release's "
        f"{folder.name}.json there"
    )


def read_examples(path: Path) -> list[tuple[str, str]]:
    """(directory, identifier) of each example, in file order, duplicates dropped.

    Raises:
        GankitError: a line that is not a JSON object with ``identifier`` and ``directory``.
    """
    examples: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                examples.append((str(record["directory"]), str(record["identifier"])))
            except (ValueError, TypeError, KeyError) as e:
                what = f"no {e} field" if isinstance(e, KeyError) else "not a JSON object"
                raise GankitError(
                    f"{path} line {number} is {what} with identifier and directory - "
                    f"replace the file with the release's {path.name} (github.com/lil-lab/nlvr)"
                ) from None
    return list(dict.fromkeys(examples))


def list_pictures(images: Path) -> dict[tuple[str, str], tuple[str, int, int]]:
    """(directory, identifier) -> (path relative to ``images``, size, mtime_ns) of the
    example's lowest-numbered order, from one scan of ``images/<directory>/``."""
    best: dict[tuple[str, str], tuple[int, str, int, int]] = {}
    with os.scandir(images) as directories:
        for directory in directories:
            if not directory.is_dir() or directory.name.startswith("."):
                continue
            with os.scandir(directory.path) as files:
                for entry in files:
                    match = _PICTURE.match(entry.name)
                    if not match or not entry.is_file():
                        continue
                    key = (directory.name, match["identifier"])
                    order = int(match["order"])
                    if key not in best or order < best[key][0]:
                        st = entry.stat()
                        rel = f"{directory.name}/{entry.name}"
                        best[key] = (order, rel, st.st_size, st.st_mtime_ns)
    return {key: (rel, size, mtime) for key, (_, rel, size, mtime) in best.items()}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _bar_lines(pixels: np.ndarray) -> np.ndarray:
    """bool [W]: columns of ``pixels`` (uint8 [H, W, 3]) that are one neutral grey."""
    values = pixels.astype(np.int16)
    flat = (values.max(axis=0) - values.min(axis=0)).max(axis=1) <= BAR_TOLERANCE
    mean = values.mean(axis=0)
    neutral = mean.max(axis=1) - mean.min(axis=1) <= BAR_TOLERANCE
    level = mean.mean(axis=1)
    return flat & neutral & (level >= GREY_LEVELS[0]) & (level <= GREY_LEVELS[1])


def _inside_margins(runs: list[tuple[int, int]], length: int) -> tuple[int, int]:
    """[start, end) left once grey runs touching either end (a frame) are cut off;
    all of it when nothing would be left."""
    start = runs[0][1] if runs and runs[0][0] == 0 else 0
    end = runs[-1][0] if runs and runs[-1][1] == length else length
    return (start, end) if start < end else (0, length)


def standard_boxes(height: int, width: int) -> list[tuple[int, int]]:
    """Column spans of three boxes as NLVR draws them: squares of the picture's height
    spread evenly over its width (equal thirds when the picture is narrower)."""
    side = height if width >= BOXES * height else width // BOXES
    gap = (width - BOXES * side) // (BOXES - 1)
    return [(i * (side + gap), i * (side + gap) + side) for i in range(BOXES)]


def find_boxes(pixels: np.ndarray) -> tuple[list[tuple[int, int]], tuple[int, int]] | None:
    """Column spans of the three boxes and their row span, found from the two grey bars.

    Returns None when two bars of one grey, leaving three boxes of about one width,
    are not there.
    """
    height, width, _ = pixels.shape
    column_runs = _runs(_bar_lines(pixels))
    left, right = _inside_margins(column_runs, width)
    inner = [run for run in column_runs if run[0] > left and run[1] < right]
    if len(inner) < 2:
        return None
    # The bars are the two widest grey runs; a thin grey line inside a box is not a bar.
    bars = sorted(sorted(inner, key=lambda run: run[1] - run[0])[-2:])
    colours = [pixels[:, a:b].reshape(-1, 3).mean(axis=0) for a, b in bars]
    if np.abs(colours[0] - colours[1]).max() > BAR_TOLERANCE:
        return None
    spans = [(left, bars[0][0]), (bars[0][1], bars[1][0]), (bars[1][1], right)]
    widths = [b - a for a, b in spans]
    if min(widths) < 1 or max(widths) > 1.25 * min(widths):
        return None
    inside = pixels[:, left:right].transpose(1, 0, 2)  # rows as columns: a frame above/below
    rows = _inside_margins(_runs(_bar_lines(inside)), height)
    return spans, rows


def cut_picture(path: Path, size: int) -> tuple[np.ndarray, bool]:
    """Decodes one picture into its boxes, uint8 [3, size, size, 3], and whether its bars
    were found (False: cut at ``standard_boxes``). Raises on an unreadable file."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.load()
            pixels = np.asarray(_to_rgb_or_l(img, 3), dtype=np.uint8)
    found = find_boxes(pixels)
    spans, (top, bottom) = found or (standard_boxes(*pixels.shape[:2]), (0, pixels.shape[0]))
    boxes = np.empty((BOXES, size, size, 3), dtype=np.uint8)
    for i, (a, b) in enumerate(spans):
        box = Image.fromarray(np.ascontiguousarray(pixels[top:bottom, a:b]))
        boxes[i] = np.asarray(box.resize((size, size), Image.Resampling.LANCZOS))
    return boxes, found is not None


def choose_pictures(examples: list[tuple[str, str]], pictures: dict) -> tuple[list, list]:
    """(listing of (identifier, relative path, size, mtime) to read, [(identifier, reason)]
    for the examples with no picture at all)."""
    listing, missing = [], []
    for key in examples:
        if key in pictures:
            listing.append((key[1], *pictures[key]))
        else:
            missing.append((f"{key[0]}/{key[1]}", "no picture"))
    return listing, missing


def _cut_all(images: Path, listing: list, size: int) -> tuple[torch.Tensor, list, list, int]:
    """Cuts every listed picture; returns (uint8 [3M, 3, size, size], box names,
    [(path, reason)] skipped, number cut at the standard geometry)."""
    out = np.empty((len(listing) * BOXES, size, size, 3), dtype=np.uint8)
    names: list[str] = []
    skipped: list[tuple[str, str]] = []
    standard = 0
    quiet = not sys.stderr.isatty()  # a progress bar only where a person watches
    for identifier, rel, _, _ in tqdm(listing, desc="cutting NLVR", leave=False, disable=quiet):
        try:
            # Looked up on the module at call time: tests replace it to prove cache hits.
            boxes, bars_found = cut_picture(images / rel, size)
        except Exception as e:  # noqa: BLE001 - untrusted files fail in many ways; all skip
            skipped.append((rel, _skip_reason(images / rel, e)))
            continue
        out[len(names) : len(names) + BOXES] = boxes
        names += [f"{identifier}#{box}" for box in range(BOXES)]
        standard += not bars_found
    tensor = torch.from_numpy(out[: len(names)]).permute(0, 3, 1, 2).contiguous()
    return tensor, names, skipped, standard


def cache_key(json_path: Path, listing: list, size: int) -> str:
    """Hex digest naming the cache file for this split's content and output size."""
    st = json_path.stat()
    blob = json.dumps([FORMAT_VERSION, size, json_path.name, st.st_size, st.st_mtime_ns, listing])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _decode_and_cache(images: Path, listing: list, missing: list, size: int, path: Path):
    tensor, names, skipped, standard = _cut_all(images, listing, size)
    metadata = {
        "box_names": json.dumps(names),
        "skipped": json.dumps(missing + skipped),
        "standard_cuts": str(standard),
    }
    if names:  # an empty result is an error below; do not cache it
        try:
            save_tensors(path, {"images": tensor}, metadata)
        except OSError as e:  # a read-only or full disk costs speed next time, nothing else
            warnings.warn(f"could not cache NLVR boxes in {path} ({e})", stacklevel=3)
    return {"images": tensor}, metadata


def _warn_standard_cuts(folder: Path, count: int) -> None:
    if count:
        warnings.warn(
            f"{count} NLVR pictures in {folder} had no two grey bars; they were cut as "
            "three squares of the picture's height spread across its width",
            stacklevel=3,
        )


def read_nlvr(folder: Path, size: int) -> tuple[torch.Tensor, list[str], str]:
    """Every box of one NLVR split folder, decoded once and cached.

    Returns:
        (uint8 [N, 3, size, size], box names "<identifier>#<0|1|2>", how it was read).

    Raises:
        GankitError: no JSON file, a malformed JSON line, or not one usable picture.
    """
    json_path = json_file(folder)
    examples = read_examples(json_path)
    listing, missing = choose_pictures(examples, list_pictures(folder / "images"))
    key = cache_key(json_path, listing, size)
    path = cache_root() / "folders" / f"nlvr-{key}.safetensors"
    cached = load_tensors(path) if listing else None
    if cached is None:
        tensors, metadata = _decode_and_cache(folder / "images", listing, missing, size, path)
        how = "cut"
    else:
        (tensors, metadata), how = cached, "cut earlier"
    # Reported on every load, cached or not: the data is as incomplete either way.
    skipped = json.loads(metadata["skipped"])
    _warn_skipped(folder, skipped, len(examples))
    _warn_standard_cuts(folder, int(metadata["standard_cuts"]))
    names = json.loads(metadata["box_names"])
    if not names:
        raise GankitError(
            f"no readable NLVR pictures in {folder / 'images'} for the {len(examples)} "
            f"examples of {json_path.name} ({len(skipped)} missing or unreadable) - {GET_IT}"
        )
    return tensors["images"], names, f"{how}, cached in {path}"


def load_nlvr(root: Path, split: str, size: int = NATIVE_SIZE, min_images: int = 1) -> ImageData:
    """Loads the boxes of NLVR's ``split`` under ``root`` as unlabelled uint8 RGB images.

    Args:
        root: an NLVR split folder (``images/`` and its JSON) or the folder holding them.
        split: "train" or "test" (NLVR's test folder, beside the train folder).
        size: side in pixels each box is resized to.
        min_images: fewer boxes than this is an error.

    Raises:
        GankitError: anything the user can fix, naming where the real data comes from.
    """
    folder = split_folder(root, split)
    images, names, how = read_nlvr(folder, size)
    if len(names) < min_images:
        raise GankitError(
            f"{folder} gives {len(names)} NLVR boxes, fewer than min_images={min_images} - "
            f"use the full release ({GET_IT}) or lower --min-images"
        )
    return ImageData(
        images=images,
        labels=None,
        class_names=[],
        name=str(folder),
        source=f"NLVR {folder.resolve()}: {len(names)} boxes of {len(names) // BOXES} "
        f"pictures ({how})",
    )
