"""Loads a folder of images (any collection: art, flowers, photos) as one uint8 tensor.

Owns: finding image files, labels from subfolders, decoding with Pillow to the
model's size, and the decoded-tensor cache. Every file is fully decoded once,
before training, so a bad file costs a warning now rather than a crash later.

Rules, in the order they apply:
- Files are found recursively; names starting with "." (files or folders) are
  skipped, as are folder symlinks. Images are .jpg .jpeg .png .webp .bmp in any
  case; other files are ignored.
- Labels (``use_labels``): each first-level subfolder is a class, classes in
  sorted name order. With a single such subfolder the data is unlabelled (one
  class says nothing). Images lying directly in the top folder beside class
  subfolders are an error: silently dropping them or giving them no class would
  both surprise. With no subfolders the data is simply unlabelled.
- Each image: EXIF rotation applied; palette, 16-bit, CMYK converted; alpha
  composited onto white; then RGB or L (ITU-R 601 luma); then the shorter side
  scaled to ``size`` (Lanczos) and the centre cropped square.
- Unreadable files (empty, not an image, truncated, decompression bombs larger
  than Pillow's ``Image.MAX_IMAGE_PIXELS``) are skipped and reported in one
  warning with a few example paths.
- The result is cached in ``cache_root()/folders/<key>.safetensors``, the key
  hashing every image file's relative path, size and mtime plus the
  preprocessing, so any change to the folder or the options decodes afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from gankit.data.cache import cache_root, load_tensors, save_tensors
from gankit.data.imagedata import ImageData
from gankit.errors import GankitError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
FORMAT_VERSION = 1  # bump when decoding changes, so old caches are not reused
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_WIDE = ("I", "F")  # 32-bit int / float: 8-bit or 16-bit data, told apart by range
_ALPHA = ("LA", "La", "RGBA", "RGBa", "PA")


def list_images(root: Path) -> tuple[list[tuple[str, int, int]], int]:
    """Image files under ``root`` as sorted (relative posix path, size, mtime_ns), and
    the number of other (ignored) files."""
    found: list[tuple[str, int, int]] = []
    others = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif not entry.is_file():
                    continue
                elif entry.name.lower().endswith(EXTENSIONS):
                    st = entry.stat()
                    rel = Path(entry.path).relative_to(root).as_posix()
                    found.append((rel, st.st_size, st.st_mtime_ns))
                else:
                    others += 1
    return sorted(found), others


def assign_labels(root: Path, rel_paths: list[str], use_labels: bool) -> tuple[list[str], list]:
    """(class names, label per file) from first-level subfolders; ([], []) if unlabelled."""
    if not use_labels:
        return [], []
    top = [p for p in rel_paths if "/" not in p]
    classes = sorted({p.split("/", 1)[0] for p in rel_paths if "/" in p})
    if len(classes) < 2:
        return [], []
    if top:
        raise GankitError(
            f"{len(top)} images lie directly in {root} beside the class subfolders "
            f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}) - move them "
            "into a subfolder, or pass --use-labels false to train without labels"
        )
    index = {name: i for i, name in enumerate(classes)}
    return classes, [index[p.split("/", 1)[0]] for p in rel_paths]


def _to_8bit(img: Image.Image) -> Image.Image:
    a = np.asarray(img).astype(np.float64)
    # 16-bit data (I;16, or I/F holding values above 255) maps 65535 -> 255.
    if img.mode in _SIXTEEN_BIT or a.max(initial=0) > 255:
        a = np.clip(a, 0, 65535) / 257.0
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L")


def _to_rgb_or_l(img: Image.Image, channels: int) -> Image.Image:
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")  # palette transparency becomes a real alpha channel
    if img.mode in _SIXTEEN_BIT + _WIDE:
        img = _to_8bit(img)
    if img.mode in _ALPHA:
        # Transparent pixels become white, as a viewer shows them, not black.
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        background.alpha_composite(img.convert("RGBA"))
        img = background
    return img.convert("L" if channels == 1 else "RGB")


def decode_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Fully decodes one image to uint8 [size, size, channels]; raises on a bad file."""
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            # JPEGs decode at a reduced DCT scale still >= 2x the target: several times
            # faster on photos, same result after the Lanczos resize. The whole
            # stream is still read, so truncation is still caught.
            img.draft(img.mode, (2 * size, 2 * size))
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_rgb_or_l(img, channels)
            img = ImageOps.fit(img, (size, size), method=Image.Resampling.LANCZOS)
            return np.asarray(img, dtype=np.uint8).reshape(size, size, channels)


def _skip_reason(path: Path, error: Exception) -> str:
    if isinstance(error, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "decompression bomb"
    if path.is_file() and path.stat().st_size == 0:
        return "empty file"
    if isinstance(error, UnidentifiedImageError):
        return "not an image"
    return f"corrupt or truncated ({type(error).__name__})"


def _decode_all(root: Path, rel_paths: list[str], size: int, channels: int):
    """Decodes every file; returns (uint8 [M, C, H, W], kept indices, [(path, reason)])."""
    out = np.empty((len(rel_paths), size, size, channels), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    quiet = not sys.stderr.isatty()  # a progress bar only where a person watches
    bar = tqdm(rel_paths, desc=f"decoding {root.name}", unit="img", leave=False, disable=quiet)
    for i, rel in enumerate(bar):
        try:
            # Looked up on the module at call time: tests replace it to prove cache hits.
            out[len(kept)] = decode_image(root / rel, size, channels)
        except Exception as e:  # noqa: BLE001 - untrusted files fail in many ways; all skip
            skipped.append((rel, _skip_reason(root / rel, e)))
            continue
        kept.append(i)
    images = torch.from_numpy(out[: len(kept)]).permute(0, 3, 1, 2).contiguous()
    return images, kept, skipped


def _warn_skipped(root: Path, skipped: list[list[str]], total: int) -> None:
    if not skipped:
        return
    counts = Counter(reason for _, reason in skipped)
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    examples = ", ".join(f"{rel} ({reason})" for rel, reason in skipped[:3])
    warnings.warn(
        f"skipped {len(skipped)} of {total} image files in {root} that could not be "
        f"decoded: {reasons}; e.g. {examples}",
        stacklevel=3,
    )


def cache_key(listing: list[tuple[str, int, int]], size: int, channels: int, use_labels: bool):
    """Hex digest naming the cache file for this folder content and preprocessing."""
    blob = json.dumps([FORMAT_VERSION, size, channels, use_labels, listing])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _decode_and_cache(
    root: Path, listing: list, size: int, channels: int, use_labels: bool, path: Path
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    rel_paths = [rel for rel, _, _ in listing]
    class_names, all_labels = assign_labels(root, rel_paths, use_labels)
    images, kept, skipped = _decode_all(root, rel_paths, size, channels)
    tensors = {"images": images}
    if class_names:
        tensors["labels"] = torch.tensor(all_labels, dtype=torch.int64)[kept]
    metadata = {"class_names": json.dumps(class_names), "skipped": json.dumps(skipped)}
    if images.shape[0]:  # an empty result is an error below; do not cache it
        try:
            save_tensors(path, tensors, metadata)
        except OSError as e:  # a read-only or full disk costs speed next time, nothing else
            warnings.warn(f"could not cache decoded images in {path} ({e})", stacklevel=3)
    return tensors, metadata


def load_folder(
    root: str | Path, size: int, channels: int, use_labels: bool = True, min_images: int = 1
) -> ImageData:
    """Loads every usable image under ``root`` as uint8 [N, channels, size, size].

    Args:
        root: the image folder.
        size: side in pixels of the (square) output images.
        channels: 1 (grey) or 3 (RGB).
        use_labels: first-level subfolders are classes (see the module docstring).
        min_images: fewer usable images than this is an error.

    Raises:
        GankitError: missing folder, too few usable images, or images beside class folders.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise GankitError(f"no image folder at {root} - check the path")
    listing, others = list_images(root)
    path = (
        cache_root() / "folders" / f"{cache_key(listing, size, channels, use_labels)}.safetensors"
    )
    cached = load_tensors(path) if listing else None
    if cached is None:
        tensors, metadata = _decode_and_cache(root, listing, size, channels, use_labels, path)
        how = f"decoded, cached in {path}"
    else:
        (tensors, metadata), how = cached, f"decoded earlier, cached in {path}"
    images = tensors["images"]
    skipped = json.loads(metadata.get("skipped", "[]"))
    _warn_skipped(root, skipped, len(listing))
    if images.shape[0] < max(min_images, 1):
        raise GankitError(
            f"{root} has {images.shape[0]} usable images out of {len(listing)} image files "
            f"({len(skipped)} unreadable, {others} other files ignored), fewer than "
            f"min_images={min_images} - add images ({' '.join(EXTENSIONS)}) or lower --min-images"
        )
    class_names = json.loads(metadata.get("class_names", "[]"))
    return ImageData(
        images=images,
        labels=tensors.get("labels"),
        class_names=class_names,
        name=str(root),
        source=f"image folder {root.resolve()}: {images.shape[0]} images, "
        f"{len(class_names) or 'no'} classes ({how})",
    )
