"""Loads a folder of images (any collection: art, flowers, photos) as one uint8 tensor.

Owns: finding image files, labels from subfolders, decoding with Pillow to the
model's size, and the decoded-tensor cache. Every file is fully decoded once,
before training, so a bad file costs a warning now rather than a crash later.

Rules, in the order they apply:
- Files are found recursively; names starting with "." (files or folders) are
  skipped, as are folder symlinks. Images are .jpg .jpeg .png .webp .bmp .gif in any
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
  than Pillow's ``Image.MAX_IMAGE_PIXELS``, broken or looping links, files
  without read permission or deleted while loading, unreadable subfolders) are
  skipped and reported in one warning with a few example paths. Animated files
  give their first frame. When nothing usable is left, the error says why instead.
- The result is cached in ``cache_root()/folders/<key>.safetensors``, the key
  hashing every image file's relative path, size and mtime plus the
  preprocessing, so any change to the folder or the options decodes afresh.
  A decode that lost files to permissions or deletion is not cached (fixing
  either need not change the key), and a cache file of the wrong shape is ignored.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from gankit.data.cache import cache_root, load_tensors, save_tensors
from gankit.data.imagedata import ImageData
from gankit.errors import GankitError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
FORMAT_VERSION = 1  # bump when decoding changes, so old caches are not reused
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_WIDE = ("I", "F")  # 32-bit int / float: 8-bit or 16-bit data, told apart by range
_ALPHA = ("LA", "La", "RGBA", "RGBa", "PA")
# Skips caused by the machine, not the file's bytes: a later load may succeed (the
# permission is granted, the file is back), so a decode with these is not cached.
VANISHED = "vanished while loading"
UNREADABLE = "unreadable (permission denied)"


@dataclass
class FolderScan:
    """What a walk of an image folder found.

    Attributes:
        files: sorted (relative posix path, size, mtime_ns) of regular image files.
        others: the number of other regular files (ignored).
        unusable: (relative path, reason) of image-named entries that cannot be
            read as files (broken or looping links, devices, unreadable folders).
    """

    files: list[tuple[str, int, int]] = field(default_factory=list)
    others: int = 0
    unusable: list[tuple[str, str]] = field(default_factory=list)


def _scan_entry(entry: os.DirEntry, root: Path, scan: FolderScan, stack: list[Path]) -> None:
    rel = Path(entry.path).relative_to(root).as_posix()
    if entry.is_dir(follow_symlinks=False):
        stack.append(Path(entry.path))
        return
    if not entry.name.lower().endswith(EXTENSIONS):
        scan.others += _is_regular_file(entry)
        return
    try:
        st = entry.stat()  # follows links: a loop or a dangling link raises here
    except FileNotFoundError:  # listed a moment ago: the link points nowhere
        scan.unusable.append((rel, "broken link" if entry.is_symlink() else VANISHED))
        return
    except OSError as e:
        scan.unusable.append((rel, _os_reason(e)))
        return
    if stat.S_ISREG(st.st_mode):
        scan.files.append((rel, st.st_size, st.st_mtime_ns))
    elif not stat.S_ISDIR(st.st_mode):  # folder links are skipped by rule, quietly
        # Opening a FIFO would block forever; a device could be endless.
        scan.unusable.append((rel, "not a regular file"))


def _is_regular_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a looping link with another extension: ignored like any other file
        return False


def scan_folder(root: Path) -> FolderScan:
    """Walks ``root`` (see the module docstring for the rules); never raises for an entry."""
    scan = FolderScan()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.name.startswith("."):
                        _scan_entry(entry, root, scan, stack)
        except OSError as e:
            rel = folder.relative_to(root).as_posix()
            scan.unusable.append((f"{rel}/", f"folder {_os_reason(e)}"))
    scan.files.sort()
    scan.unusable.sort()
    return scan


def list_images(root: Path) -> tuple[list[tuple[str, int, int]], int]:
    """Image files under ``root`` as sorted (relative posix path, size, mtime_ns), and
    the number of other (ignored) files."""
    scan = scan_folder(root)
    return scan.files, scan.others


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


def _os_reason(error: OSError) -> str:
    """Why the file system refused an entry, in words."""
    if isinstance(error, FileNotFoundError):
        return VANISHED
    if isinstance(error, PermissionError):
        return UNREADABLE
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    return f"unreadable ({error.strerror or type(error).__name__})"


def _skip_reason(path: Path, error: Exception) -> str:
    if isinstance(error, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "decompression bomb"
    # The system's refusals carry an errno; Pillow's own "truncated" OSErrors do not.
    system = isinstance(error, (FileNotFoundError, PermissionError)) or getattr(error, "errno", 0)
    if isinstance(error, OSError) and system:
        return _os_reason(error)
    try:
        empty = os.stat(path).st_size == 0
    except OSError:
        empty = False
    if empty:
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


def shown(name: str) -> str:
    """A file name fit for a one-line message: undecodable bytes as \\xNN, control
    characters (a newline in a name) escaped."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _skipped_summary(skipped: list[tuple[str, str]]) -> str:
    counts = Counter(reason for _, reason in skipped)
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    examples = ", ".join(f"{shown(rel)} ({reason})" for rel, reason in skipped[:3])
    return f"{reasons}; e.g. {examples}"


def _warn_skipped(root: Path, skipped: list[tuple[str, str]], total: int) -> None:
    if not skipped:
        return
    warnings.warn(
        f"skipped {len(skipped)} of {total} image files in {shown(str(root))} that could "
        f"not be decoded: {_skipped_summary(skipped)}",
        stacklevel=3,
    )


def cache_key(listing: list[tuple[str, int, int]], size: int, channels: int, use_labels: bool):
    """Hex digest naming the cache file for this folder content and preprocessing."""
    blob = json.dumps([FORMAT_VERSION, size, channels, use_labels, listing])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _decode_and_cache(
    root: Path, listing: list, size: int, channels: int, use_labels: bool, path: Path
) -> tuple[dict[str, torch.Tensor], dict[str, str], bool]:
    """Decodes the listed files; returns (tensors, metadata, whether they were cached)."""
    rel_paths = [rel for rel, _, _ in listing]
    class_names, all_labels = assign_labels(root, rel_paths, use_labels)
    images, kept, skipped = _decode_all(root, rel_paths, size, channels)
    tensors = {"images": images}
    if class_names:
        tensors["labels"] = torch.tensor(all_labels, dtype=torch.int64)[kept]
    metadata = {"class_names": json.dumps(class_names), "skipped": json.dumps(skipped)}
    # An empty result is an error below, and a result missing files the machine
    # withheld would outlive the cause: neither is cached.
    transient = any(reason in (VANISHED, UNREADABLE) for _, reason in skipped)
    if not images.shape[0] or transient:
        return tensors, metadata, False
    try:
        save_tensors(path, tensors, metadata)
    except OSError as e:  # a read-only or full disk costs speed next time, nothing else
        warnings.warn(f"could not cache decoded images in {path} ({e})", stacklevel=3)
        return tensors, metadata, False
    return tensors, metadata, True


def _load_cached(path: Path, size: int, channels: int):
    """The cached (tensors, metadata) if they are whole and of this shape, else None."""
    cached = load_tensors(path)
    if cached is None:
        return None
    tensors, metadata = cached
    images, labels = tensors.get("images"), tensors.get("labels")
    # A damaged or foreign file under our name is decoded afresh, never trusted.
    if images is None or images.dtype != torch.uint8 or images.shape[1:] != (channels, size, size):
        return None
    if labels is not None and (labels.dtype != torch.int64 or labels.shape != images.shape[:1]):
        return None
    try:
        names, skipped = json.loads(metadata["class_names"]), json.loads(metadata["skipped"])
    except (KeyError, ValueError):
        return None
    pairs_ok = isinstance(skipped, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        for pair in skipped
    )
    names_ok = isinstance(names, list) and all(isinstance(name, str) for name in names)
    if not (pairs_ok and names_ok) or (labels is None) != (not names):
        return None
    return cached


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
        raise GankitError(f"no image folder at {shown(str(root))} - check the path")
    scan = scan_folder(root)
    key = cache_key(scan.files, size, channels, use_labels)
    path = cache_root() / "folders" / f"{key}.safetensors"
    cached = _load_cached(path, size, channels) if scan.files else None
    if cached is None:
        tensors, metadata, saved = _decode_and_cache(
            root, scan.files, size, channels, use_labels, path
        )
        how = f"decoded, cached in {path}" if saved else "decoded, not cached"
    else:
        (tensors, metadata), how = cached, f"decoded earlier, cached in {path}"
    images = tensors["images"]
    # Entries the walk could not read are reported afresh each time, never cached.
    skipped = sorted(scan.unusable + [tuple(pair) for pair in json.loads(metadata["skipped"])])
    total = len(scan.files) + len(scan.unusable)
    if images.shape[0] < max(min_images, 1):
        # The error says why in full, so the warning would only repeat it.
        why = f": {_skipped_summary(skipped)}" if skipped else ""
        raise GankitError(
            f"{shown(str(root))} has {images.shape[0]} usable images out of {total} image "
            f"files ({len(skipped)} unreadable{why}; {scan.others} other files ignored), "
            f"fewer than min_images={min_images} - add images ({' '.join(EXTENSIONS)}) or "
            "lower --min-images"
        )
    _warn_skipped(root, skipped, total)
    class_names = json.loads(metadata["class_names"])
    return ImageData(
        images=images,
        labels=tensors.get("labels"),
        class_names=class_names,
        name=str(root),
        source=f"image folder {root.resolve()}: {images.shape[0]} images, "
        f"{len(class_names) or 'no'} classes ({how})",
    )
