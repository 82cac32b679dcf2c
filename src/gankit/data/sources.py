"""Finds the IDX files of Fashion-MNIST and MNIST, downloading them when absent.

Search order, first folder holding both files of the split wins:
``cfg.data_dir``, ``$GANKIT_DATA``, the user cache (``cache.cache_root()/<name>``),
then system folders (Debian's ``dataset-fashion-mnist`` package). In each base
folder we also look in ``<base>/<name>`` and torchvision's ``<base>/<Class>/raw``.
File names may end in ``.gz`` or not, and use ``-idx`` or ``.idx`` (Kaggle's MNIST).

If nothing is found the split's two files are downloaded into the user cache
from the upstream mirrors, each ``.gz`` checked against its published MD5
(the same list torchvision uses); a mismatch deletes the file. ``fetch`` is a
module attribute so tests replace it and never touch the network.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gankit.data.cache import cache_root
from gankit.errors import GankitError

log = logging.getLogger(__name__)

# split -> (images stem, labels stem)
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MIRRORS = {
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
}
MD5 = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
}
SYSTEM_DIRS = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [],
}
_TORCHVISION_NAMES = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}
TIMEOUT_S = 20.0  # per connection attempt; a missing network fails fast, not after minutes


def fetch(url: str, dest: Path, timeout: float = TIMEOUT_S) -> None:
    """Downloads ``url`` to ``dest`` (streamed). Replaced in tests."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as f:
        shutil.copyfileobj(response, f, length=1 << 20)


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def candidate_dirs(name: str, data_dir: str = "") -> list[Path]:
    """The folders searched for ``name``'s files, in order (duplicates removed)."""
    bases = [Path(d).expanduser() for d in (data_dir, os.environ.get("GANKIT_DATA", "")) if d]
    dirs: list[Path] = []
    for base in bases:
        dirs += [base, base / name, base / _TORCHVISION_NAMES[name] / "raw"]
    dirs.append(cache_root() / name)
    dirs += SYSTEM_DIRS.get(name, [])
    return list(dict.fromkeys(dirs))


def _find_file(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # Kaggle's MNIST: train-images.idx3-ubyte
    for candidate in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def find_split(name: str, split: str, data_dir: str = "") -> tuple[Path, Path] | None:
    """(images, labels) paths of the first folder holding both, or None."""
    for folder in candidate_dirs(name, data_dir):
        images, labels = (_find_file(folder, stem) for stem in SPLIT_FILES[split])
        if images and labels:
            return images, labels
    return None


def _download_one(name: str, filename: str, dest_dir: Path, fetch_fn: Callable) -> str:
    """Downloads one verified file into ``dest_dir``; returns the URL, or raises OSError."""
    errors = []
    for mirror in MIRRORS[name]:
        url = mirror + filename
        tmp = dest_dir / f"{filename}.{os.getpid()}.part"
        try:
            log.info("downloading %s", url)
            fetch_fn(url, tmp)
            digest = file_md5(tmp)
            if digest != MD5[name][filename]:
                errors.append(f"{url}: checksum mismatch (md5 {digest})")
                continue
            tmp.replace(dest_dir / filename)
            return url
        except (OSError, http.client.HTTPException, ValueError) as e:
            errors.append(f"{url}: {e}")
        finally:
            tmp.unlink(missing_ok=True)  # no-op after the rename; removes a bad download
    raise OSError("; ".join(errors))


def download(name: str, split: str, fetch_fn: Callable | None = None) -> tuple[Path, Path, str]:
    """Downloads the split's two files into the user cache; returns their paths and the URL.

    Raises:
        OSError: every mirror failed for a file (the message lists why).
    """
    dest_dir = cache_root() / name
    dest_dir.mkdir(parents=True, exist_ok=True)
    fetch_fn = fetch_fn or fetch  # looked up at call time so tests can replace `fetch`
    paths, url = [], ""
    for stem in SPLIT_FILES[split]:
        filename = stem + ".gz"
        if (dest_dir / filename).is_file():
            paths.append(dest_dir / filename)
            continue
        url = _download_one(name, filename, dest_dir, fetch_fn)
        paths.append(dest_dir / filename)
    return paths[0], paths[1], url.rsplit("/", 1)[0] + "/"


def locate(
    name: str, split: str, data_dir: str = "", fetch_fn: Callable | None = None
) -> tuple[Path, Path, str]:
    """Returns (images path, labels path, human-readable source) for a built-in IDX dataset.

    Raises:
        GankitError: not found anywhere and the download failed; names the ways to fix it.
    """
    found = find_split(name, split, data_dir)
    if found:
        folder = found[0].parent
        note = " (Debian package dataset-fashion-mnist)" if folder in SYSTEM_DIRS[name] else ""
        return found[0], found[1], f"IDX files in {folder}{note}"
    try:
        images, labels, url = download(name, split, fetch_fn)
    except OSError as e:
        raise GankitError(_missing_message(name, split, data_dir, str(e))) from None
    return images, labels, f"IDX files in {images.parent} (downloaded from {url})"


def _missing_message(name: str, split: str, data_dir: str, reason: str) -> str:
    looked = ", ".join(str(d) for d in candidate_dirs(name, data_dir))
    cache = cache_root() / name
    if name == "fashion-mnist":
        last = f"`apt-get install dataset-fashion-mnist`, or copy the four files into {cache}"
    else:
        last = f"copy the four files into {cache}"
    reason = " ".join(reason.split())  # one line, whatever the network library said
    return (
        f"{name} {split} files not found (looked in {looked}) and the download failed "
        f"({reason}) - pass --data-dir DIR with the four IDX files "
        f"({', '.join(s + '.gz' for pair in SPLIT_FILES.values() for s in pair)}), "
        f"set $GANKIT_DATA=DIR, or {last}"
    )
