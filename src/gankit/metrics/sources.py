"""Where the images for a metric come from: folders, arrays, dataset splits, runs.

Owns: turning what a user types for one side of ``gankit fid A B`` into a
``Source`` that streams uint8 [b, C, H, W] batches (C = 1 or 3) and knows how
many images it has. The forms, in the order they are tried:

- ``RUN@STEP`` / ``RUN``: a run folder (has config.yaml); images generated from
  the checkpoint (default the latest), image i from seed SEED + i, labels
  balanced (i mod classes) for a conditional G. As many images as asked.
- a folder of images (.png .jpg .jpeg .webp .bmp, recursively, sorted): each
  decoded at its own size (no resize before the network's own), grey stays
  grey, anything else becomes RGB; alpha is composited onto white.
- ``FILE.npz`` / ``FILE.npy``: uint8 images under the key ``images`` (or the
  only array): [N, H, W] grey, [N, H, W, C] or [N, C, H, W] with C = 1 or 3.
- ``NAME:SPLIT`` (e.g. ``fashion-mnist:test``, ``shapes:train``) or a bare
  built-in ``NAME`` (its test split): ``gankit.data.load_dataset`` at the
  dataset's own size and channels.

``--n`` N from a finite source of M images: N > M is an error; N = M takes them
all, in order; N < M takes a seeded random subset (``numpy`` Generator(SEED),
without replacement, kept in file order), so a folder sorted by class or a CSV
sorted by label is not sampled from one end. The standard reference for
Fashion-MNIST is the whole test split (10,000).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.checkpoint import load_generator
from gankit.config import DataConfig
from gankit.data import dataset_kind, load_dataset
from gankit.data.dataset import BUILTINS, SPLITS, native_shape
from gankit.data.folder import _to_rgb_or_l, list_images
from gankit.data.shapes import split_seed_and_count
from gankit.errors import GankitError
from gankit.run import is_run, open_run
from gankit.sampling import sample_batches

# Images per split of the built-in IDX datasets, fixed by the files (for cache keys
# that need no loading).
_IDX_SIZES = {"train": 60_000, "test": 10_000}
_GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")


def subset_indices(size: int, n: int, seed: int) -> np.ndarray | None:
    """Which of ``size`` images to take for ``n``: None for all; else sorted seeded indices."""
    if n >= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(size, n, replace=False))


class Source:
    """One side of a comparison: uint8 image batches and what they are.

    Attributes:
        spec: what the user typed (or a name for a source built in code).
        size: images available; None for a generator (as many as asked).
        seed: subset seed (finite sources) or first image seed (generators).
    """

    spec: str
    size: int | None = None
    seed: int = 0

    def check(self, n: int) -> None:
        """Raises a one-line error when ``n`` images cannot be had."""
        size = self.size
        if size is not None and n > size:
            raise GankitError(
                f"{self.spec} has {size:,} images, asked for {n:,} - use --n {size} or fewer"
            )

    def batches(self, n: int, batch_size: int) -> Iterator[torch.Tensor]:
        """The first ``n`` images (or a seeded subset, see the module docstring) in batches."""
        raise NotImplementedError

    def describe(self, n: int) -> str:
        """One line for reports: what, how many, how chosen."""
        raise NotImplementedError

    def reference_key(self, n: int) -> dict | None:
        """What identifies these ``n`` images for the feature cache; None = never cached."""
        return None


class TensorSource(Source):
    """Images already in memory as a uint8 [N, C, H, W] tensor (an array file)."""

    def __init__(self, images: torch.Tensor, spec: str, seed: int = 0):
        self.images, self.spec, self.seed, self.size = images, spec, seed, len(images)

    def batches(self, n: int, batch_size: int) -> Iterator[torch.Tensor]:
        self.check(n)
        chosen = subset_indices(len(self.images), n, self.seed)
        for start in range(0, n, batch_size):
            if chosen is None:
                yield self.images[start : start + batch_size]
            else:
                yield self.images[torch.from_numpy(chosen[start : start + batch_size])]

    def describe(self, n: int) -> str:
        _, c, h, w = self.images.shape
        how = "all" if n >= self.size else f"seed-{self.seed} subset"
        return f"{self.spec}: {n:,} of {self.size:,} images ({how}), {h}x{w} {_colour(c)}"


class DatasetSource(TensorSource):
    """A split of a dataset ``gankit.data`` knows, loaded only when images are needed.

    Built-in datasets are cacheable references: their content is fixed by name,
    split and options, so their features are cached (see ``features.py``).
    """

    def __init__(self, cfg: DataConfig, split: str, seed: int = 0, spec: str | None = None):
        self.spec = spec or f"{cfg.dataset}:{split}"
        if split not in SPLITS:
            raise GankitError(f"unknown split {split!r} in {self.spec} - use train or test")
        self.cfg, self.split, self.seed = cfg, split, seed
        self.kind = dataset_kind(cfg.dataset)  # checks the name now, not after minutes
        self._images: torch.Tensor | None = None

    @property
    def images(self) -> torch.Tensor:
        if self._images is None:
            self._images = load_dataset(self.cfg, self.split).images
        return self._images

    @property
    def size(self) -> int:
        if self.kind in ("fashion-mnist", "mnist"):
            return _IDX_SIZES[self.split]
        if self.kind == "shapes":
            return split_seed_and_count(self.cfg.shapes_seed, self.cfg.shapes_count, self.split)[1]
        return len(self.images)

    def describe(self, n: int) -> str:
        # From the options, not the images: a cached reference is never loaded.
        native_size, native_channels = native_shape(self.cfg, self.kind)
        side, channels = self.cfg.img_size or native_size, self.cfg.channels or native_channels
        how = "all" if n >= self.size else f"seed-{self.seed} subset"
        return (
            f"{self.spec}: {n:,} of {self.size:,} images ({how}), {side}x{side} {_colour(channels)}"
        )

    def reference_key(self, n: int) -> dict | None:
        if self.kind not in BUILTINS:
            return None  # a folder or CSV can change under the same name
        key = {
            "dataset": self.kind,
            "split": self.split,
            "n": n,
            "subset_seed": None if n >= self.size else self.seed,
            "img_size": self.cfg.img_size,
            "channels": self.cfg.channels,
        }
        if self.kind == "shapes":
            key |= {"shapes_count": self.cfg.shapes_count, "shapes_seed": self.cfg.shapes_seed}
        return key


class FolderSource(Source):
    """A folder of image files, each decoded at its own size when its batch is needed."""

    def __init__(self, root: Path, spec: str, seed: int = 0):
        self.root, self.spec, self.seed = root, spec, seed
        self.files = [rel for rel, _, _ in list_images(root)[0]]
        self.size = len(self.files)
        if not self.files:
            raise GankitError(
                f"{spec} holds no images (.png .jpg .jpeg .webp .bmp) - check the folder"
            )

    def batches(self, n: int, batch_size: int) -> Iterator[torch.Tensor]:
        self.check(n)
        chosen = subset_indices(self.size, n, self.seed)
        files = self.files[:n] if chosen is None else [self.files[i] for i in chosen]
        pending: list[np.ndarray] = []
        for rel in files:
            image = _decode(self.root / rel)
            # Images of different sizes or modes cannot share a batch: flush on a change.
            if pending and (image.shape != pending[0].shape or len(pending) == batch_size):
                yield _stack(pending)
                pending = []
            pending.append(image)
        if pending:
            yield _stack(pending)

    def describe(self, n: int) -> str:
        how = "all" if n >= self.size else f"seed-{self.seed} subset"
        return f"image folder {self.spec}: {n:,} of {self.size:,} images ({how}), own sizes"


class GeneratorSource(Source):
    """Images generated by G: image i from seed ``seed + i`` (``sampling.sample_batches``)."""

    def __init__(self, G: torch.nn.Module, spec: str, seed: int = 0, label: int | None = None):
        self.G, self.spec, self.seed, self.label, self.size = G, spec, seed, label, None

    def batches(self, n: int, batch_size: int) -> Iterator[torch.Tensor]:
        for images, _ in sample_batches(
            self.G, n, seed=self.seed, batch_size=batch_size, label=self.label
        ):
            yield images

    def describe(self, n: int) -> str:
        which = f"label {self.label}" if self.label is not None else "balanced labels"
        labels = f", {which}" if getattr(self.G, "conditional", False) else ""
        return f"{self.spec}: {n:,} generated, seeds {self.seed}-{self.seed + n - 1}{labels}"


def run_source(
    path: Path, which: str | int = "latest", *, device="cpu", seed: int = 0
) -> GeneratorSource:
    """A run folder's checkpoint (``latest`` or a step) as a generator source."""
    run = open_run(path)
    G, _, state = load_generator(run, which, device)
    return GeneratorSource(G, f"run {path} step {state['step']}", seed)


def open_source(spec: str, *, seed: int = 0, device="cpu") -> Source:
    """What the user typed for one side of a comparison -> a Source (see the module docstring)."""
    path = Path(spec).expanduser()
    base, _, step = spec.rpartition("@")
    if base and not path.exists() and is_run(Path(base).expanduser()):
        if not (step == "latest" or step.isdigit()):
            raise GankitError(f"{spec}: after @ give a step number or 'latest', got {step!r}")
        return run_source(Path(base).expanduser(), step, device=device, seed=seed)
    if path.is_dir():
        if is_run(path):
            return run_source(path, device=device, seed=seed)
        return FolderSource(path, spec, seed)
    if path.is_file():
        if path.suffix.lower() in (".npz", ".npy"):
            return TensorSource(read_array(path), spec, seed)
        if path.suffix.lower() == ".csv":
            return DatasetSource(DataConfig(dataset=spec), "train", seed, spec=spec)
        raise GankitError(
            f"{spec} is a file gankit cannot read images from - give a folder of images, "
            "an .npz/.npy of uint8 images, a run folder or a dataset NAME:SPLIT"
        )
    name, _, split = spec.rpartition(":")
    if name and (split in SPLITS or name.strip().lower() in BUILTINS):
        return DatasetSource(DataConfig(dataset=name), split, seed, spec=spec)
    if spec.strip().lower() in BUILTINS:
        return DatasetSource(DataConfig(dataset=spec), "test", seed, spec=f"{spec}:test")
    raise GankitError(
        f"no such file, folder, run or dataset: {spec} - give a folder of images, an .npz, "
        f"a run folder (RUN or RUN@STEP) or NAME:SPLIT with NAME one of {', '.join(BUILTINS)}"
    )


def read_array(path: Path) -> torch.Tensor:
    """An .npz/.npy of uint8 images -> uint8 [N, C, H, W] (layouts in the module docstring)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise GankitError(f"cannot read {path} ({e}) - is it a numpy .npz/.npy file?") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if "images" not in keys and len(keys) != 1:
                raise GankitError(
                    f"{path} holds {', '.join(keys)} - store the images under the key 'images'"
                )
            array = loaded["images" if "images" in keys else keys[0]]
    else:
        array = loaded
    if array.dtype != np.uint8:
        raise GankitError(
            f"{path} holds {array.dtype} values - FID needs uint8 images 0..255; quantise them "
            "(e.g. np.clip(np.rint(x), 0, 255).astype(np.uint8))"
        )
    return _to_nchw(torch.from_numpy(np.ascontiguousarray(array)), path)


def _to_nchw(x: torch.Tensor, path: Path) -> torch.Tensor:
    if x.ndim == 3:
        return x[:, None]  # [N, H, W] grey
    if x.ndim == 4:
        channels_first, channels_last = x.shape[1] in (1, 3), x.shape[3] in (1, 3)
        if channels_last and not (channels_first and x.shape[3] == x.shape[2]):
            return x.permute(0, 3, 1, 2).contiguous()
        if channels_first:
            return x
    raise GankitError(
        f"{path} holds an array of shape {tuple(x.shape)} - expected [N, H, W], "
        "[N, H, W, C] or [N, C, H, W] with C = 1 or 3"
    )


def _decode(path: Path) -> np.ndarray:
    """One image file -> uint8 [H, W, 1 or 3] at its own size, or a one-line error."""
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            image = _to_rgb_or_l(img, 1 if img.mode in _GREY_MODES else 3)
            array = np.asarray(image, dtype=np.uint8)
    except Exception as e:  # noqa: BLE001 - untrusted files fail in many ways
        raise GankitError(
            f"cannot decode {path} ({type(e).__name__}) - remove or re-save the file"
        ) from None
    return array[:, :, None] if array.ndim == 2 else array


def _stack(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _colour(channels: int) -> str:
    return "grey" if channels == 1 else "RGB"
