"""The dataset's own image classifier: network, training, and its cache.

Owns a small VGG-style CNN (Simonyan & Zisserman 2015, with batch norm and
dropout) for a labelled dataset at its native size and channels; its recipe
(AdamW, one-cycle schedule - Smith 2018 -, random shifts and flips); and the
cache ``<cache root>/classifiers/<dataset key>/`` (safetensors weights + a
JSON record). ``gankit.metrics.classes`` judges generated images with it, as
seed 001 did. Data stays one uint8 tensor on the device; batches are index
slices, shifted and flipped there in one vectorised step, scaled to [-1, 1].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from gankit.config import DataConfig
from gankit.data import ImageData, dataset_kind, load_dataset
from gankit.data.cache import cache_root
from gankit.errors import GankitError
from gankit.images import to_float

ARCH = "vgg-bn-v1"  # bump when the network or its input convention changes: old caches retrain
DEFAULT_EPOCHS = 15
WEIGHTS_FILE = "classifier.safetensors"
INFO_FILE = "classifier.json"
HOLDOUT_SHARE = 0.1  # image folders have no test split: this share of train is held out
UNLABELLED = (
    "{} has no labels, so there is no classifier for it - class checks need a labelled "
    "dataset (e.g. an image folder with one subfolder per class)"
)
SHAPE_KEYS = ("img_size", "channels", "num_classes", "width", "feature_dim")  # rebuild the net


class Classifier(nn.Module):
    """uint8 (or [-1, 1] float) images [B, C, S, S] -> class logits [B, num_classes].

    Stages of (conv3x3-BN-ReLU) x 2 -> max-pool -> dropout, widths ``width``,
    2 * ``width``, 4 * ``width``..., until the map is at most 8 px; then
    FC ``feature_dim`` -> BN -> ReLU (the penultimate ``features``) -> dropout -> FC.
    """

    def __init__(
        self, *, img_size: int, channels: int, num_classes: int, width=32, feature_dim=256
    ):
        super().__init__()
        self.img_size, self.channels, self.num_classes = img_size, channels, num_classes
        self.width, self.feature_dim = width, feature_dim
        self.info: dict[str, Any] = {}  # the cached record, when loaded from / saved to the cache
        layers: list[nn.Module] = []
        c_in, size, c_out = channels, img_size, width
        while True:
            # [B, c_in, size, size] -> [B, c_out, size // 2, size // 2]
            for c in (c_in, c_out):
                layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
                layers.append(nn.ReLU(inplace=True))
            layers += [nn.MaxPool2d(2), nn.Dropout(0.25)]
            c_in, size = c_out, size // 2
            if size <= 8:
                break
            c_out *= 2
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * size * size, feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Sequential(nn.Dropout(0.5), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [B, feature_dim] (what the classifier FID compares)."""
        if x.dtype == torch.uint8:
            x = to_float(x)
        shape = (self.channels, self.img_size, self.img_size)
        assert x.shape[1:] == shape, f"classifier expects [B, *{shape}], got {list(x.shape)}"
        return self.head(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))

    def describe(self) -> dict[str, Any]:
        """The architecture's name and the integers that rebuild this network."""
        return {"arch": ARCH, **{key: getattr(self, key) for key in SHAPE_KEYS}}


@dataclasses.dataclass(frozen=True)
class Augment:
    """Training-time augmentation: random shifts of up to ``shift`` px and left-right flips."""

    shift: int = 2  # pad by this many px (edge pixels repeated), then crop at a random offset
    hflip: bool = True  # flip half of the images left-right (off for digits)


def default_augment(dataset_name: str) -> Augment:
    """Shifts for every dataset; flips too, except for digits (a flipped digit is another, or none)."""
    return Augment(hflip=dataset_name != "mnist")


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Random shift and flip of a float batch [B, C, H, W], vectorised on its device."""
    b, c, h, w = x.shape
    if aug.shift > 0:
        p = aug.shift
        padded = F.pad(x, (p, p, p, p), mode="replicate")
        dy, dx = torch.randint(0, 2 * p + 1, (2, b, 1), generator=generator, device=x.device)
        rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]  # [B, 1, H, 1]
        cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]  # [B, 1, 1, W]
        x = padded.gather(2, rows.expand(b, c, h, w + 2 * p)).gather(3, cols.expand(b, c, h, w))
    if aug.hflip:
        flip = torch.rand(b, generator=generator, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


@torch.no_grad()
def predict(
    model: Classifier, images: torch.Tensor, *, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features [N, feature_dim] and logits [N, K] (float32, CPU) of uint8 images, in one pass.

    ``images`` may be on any device; the model runs in eval mode, its mode restored after.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    feats, logits = [], []
    try:
        for i in range(0, len(images), batch_size):
            f = model.features(images[i : i + batch_size].to(device))
            feats.append(f.float().cpu())
            logits.append(model.out(f).float().cpu())
    finally:
        model.train(was_training)
    if not feats:
        return torch.empty(0, model.feature_dim), torch.empty(0, model.num_classes)
    return torch.cat(feats), torch.cat(logits)


def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` whose arg-max class is ``labels`` (0.0 for no images)."""
    if len(images) == 0:
        return 0.0
    pred = predict(model, images)[1].argmax(1)
    return float((pred == labels.cpu()).double().mean())


def train_classifier(
    data: ImageData,
    test: ImageData | None,
    *,
    epochs: float = DEFAULT_EPOCHS,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 1e-2,
    seed: int = 0,
    device: str | torch.device = "cpu",
    augment: Augment | None = Augment(),
    width: int = 32,
    progress: Callable[[str], None] | None = None,
) -> tuple[Classifier, dict[str, Any]]:
    """Trains a ``Classifier`` on ``data`` and measures it on ``test``.

    Args:
        data: labelled training images (uint8 [N, C, S, S]).
        test: labelled held-out images of the same shape, or None (no test accuracy).
        epochs: passes over ``data``; fractions allowed (short schedules in tests).
        batch_size, lr, weight_decay: AdamW with a one-cycle schedule peaking at ``lr``.
        seed: initialisation, data order and augmentation draws.
        device: where the data and the network live while training.
        augment: random shifts / flips, or None for none.
        width: channels of the first stage (32; tests use fewer).
        progress: called with one line per epoch (e.g. ``print``), or None.

    Returns:
        ``(model, report)``: the network in eval mode on ``device`` and a JSON-able dict
        (architecture, test_accuracy, test_images, train_images, epochs, seconds, ...).
    """
    if data.labels is None or not data.class_names:
        raise GankitError(UNLABELLED.format(data.name))
    device = torch.device(device)
    _, c, h, _ = data.images.shape
    start = time.perf_counter()
    # Seeded global RNG for the initialisation and dropout, restored afterwards.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = Classifier(img_size=h, channels=c, num_classes=len(data.class_names), width=width)
        model = model.to(device)
        gen = torch.Generator(device=device).manual_seed(seed)  # data order, augmentation
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        _fit(model, opt, data, test, epochs, batch_size, augment, gen, progress)
    return model, {
        **model.describe(),
        "test_accuracy": None if test is None else accuracy(model, test.images, test.labels),
        "test_images": 0 if test is None else len(test.images),
        "train_images": len(data.images),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "augment": None if augment is None else dataclasses.asdict(augment),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _fit(model, opt, data, test, epochs, batch_size, augment, generator, progress) -> None:
    """The training loop: one-cycle schedule, full batches of a fresh permutation per epoch."""
    device = next(model.parameters()).device
    images, labels = data.images.to(device), data.labels.to(device)
    # Full batches only (batch norm needs more than one image); at least one step.
    steps_per_epoch = max(1, len(images) // batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opt.defaults["lr"], total_steps=total)
    start, step, epoch = time.perf_counter(), 0, 0
    model.train()
    while step < total:
        order = torch.randperm(len(images), generator=generator, device=device)
        steps = min(steps_per_epoch, total - step)
        loss_sum = torch.zeros((), device=device)
        for i in range(steps):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x = to_float(images[idx])
            if augment is not None:
                x = augment_batch(x, augment, generator)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach()  # no host sync inside the epoch
        step, epoch = step + steps, epoch + 1
        if progress is not None:
            line = f"epoch {epoch}: loss {float(loss_sum) / steps:.4f}"
            if test is not None:
                line += f", test accuracy {accuracy(model, test.images, test.labels):.2%}"
            progress(f"{line} ({time.perf_counter() - start:.0f} s)")
    model.eval()


# --- the cache: <root>/classifiers/<dataset key>/{classifier.safetensors, classifier.json} ---


def dataset_key(data_cfg: DataConfig, data: ImageData) -> str:
    """Names the cache folder: what the data is (name or path, size, channels, classes).

    Readable prefix + a hash of the full identity, e.g. ``fashion-mnist-28px-1ch-3f2a...``.
    """
    kind = dataset_kind(data_cfg.dataset)
    _, c, h, _ = data.images.shape
    where = kind if kind in ("fashion-mnist", "mnist", "shapes") else _resolved(data.name)
    identity = {"dataset": where, "img_size": h, "channels": c, "class_names": data.class_names}
    if kind == "shapes":  # generated data: the seed and count are what it is
        identity.update(shapes_count=data_cfg.shapes_count, shapes_seed=data_cfg.shapes_seed)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in Path(where).stem)
    return f"{stem.strip('-')[:40] or 'data'}-{h}px-{c}ch-{digest}"


def _resolved(name: str) -> str:
    return str(Path(name).expanduser().resolve())


def classifiers_root() -> Path:
    return cache_root() / "classifiers"


def save_classifier(folder: Path, model: Classifier, info: dict[str, Any]) -> None:
    """Writes weights + JSON into ``folder`` atomically (a temporary folder, then rename)."""
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)  # a crashed writer's leftovers are overwritten
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"arch": ARCH})
        (tmp / INFO_FILE).write_text(json.dumps({**model.describe(), **info}, indent=1))
        if folder.exists():  # --retrain: replace the old one
            shutil.rmtree(folder)
        tmp.rename(folder)
    except OSError as e:
        raise GankitError(
            f"could not cache the classifier in {folder}: {e.strerror or e} - free space or "
            "set GANKIT_CACHE to a writable folder"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_info(folder: Path) -> dict[str, Any] | None:
    """The cached classifier's JSON record, or None when absent, damaged or of an old design."""
    try:
        info = json.loads((folder / INFO_FILE).read_text())
        return info if info.get("arch") == ARCH else None
    except (OSError, ValueError, AttributeError):
        return None


def load_classifier(folder: Path, device: str | torch.device = "cpu") -> Classifier | None:
    """Rebuilds a cached classifier (eval mode, ``.info`` = its record); None if unusable."""
    info = read_info(folder)
    if info is None:
        return None
    try:
        model = Classifier(**{key: int(info[key]) for key in SHAPE_KEYS})
        model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except (KeyError, TypeError, OSError, RuntimeError, ValueError):
        return None  # damaged or foreign: the caller trains a fresh one
    model.info = {**info, "cache_dir": str(folder)}
    return model.to(device).eval()


def labelled_splits(data_cfg: DataConfig) -> tuple[ImageData, ImageData, str]:
    """The classifier's (train, test, what the test set is) for the dataset ``data_cfg`` names.

    The test split where there is one with the same classes, else (image folders, a CSV
    without a test file) 10% of train held out with seed 0. These are the images the
    cached classifier was measured on: use ``test`` as the real side of the classifier
    FID and of train-on-synthetic.

    Raises:
        GankitError: the dataset has no labels, or cannot be loaded.
    """
    # The classifier always sees labels and the train split (and none of the GAN's flips).
    cfg = dataclasses.replace(data_cfg, split="train", use_labels=True, hflip=False, vflip=False)
    data = load_dataset(cfg)
    if data.labels is None or not data.class_names:
        raise GankitError(UNLABELLED.format(cfg.dataset))
    kind = dataset_kind(cfg.dataset)
    if kind != "folder":
        try:
            test = load_dataset(cfg, split="test")
        except GankitError:
            if kind != "csv":
                raise
            test = None  # no test file beside the CSV: hold some out
        if test is not None and test.labels is not None and test.class_names == data.class_names:
            return data, test, "test split"
    order = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(0))
    cut = max(1, round(HOLDOUT_SHARE * len(order)))
    train, test = (
        dataclasses.replace(data, images=data.images[i], labels=data.labels[i])
        for i in (order[cut:], order[:cut])
    )
    return train, test, f"{HOLDOUT_SHARE:.0%} of train held out (seed 0)"


def load_or_train_classifier(
    data_cfg: DataConfig,
    *,
    device: str | torch.device = "cpu",
    retrain: bool = False,
    epochs: float = DEFAULT_EPOCHS,
    progress: Callable[[str], None] | None = None,
) -> Classifier:
    """The dataset's classifier: from the cache, or trained on its train split and cached.

    The cache key is the dataset's identity (see ``dataset_key``), so a run's
    ``cfg.data`` and ``gankit classifier train NAME --img-size S`` share one network.
    The returned model is in eval mode on ``device``; ``model.info`` holds the cached
    record (test_accuracy, epochs, test_split, cache_dir, ...).

    Raises:
        GankitError: the dataset has no labels, or cannot be loaded.
    """
    train, test, test_split = labelled_splits(data_cfg)
    folder = classifiers_root() / dataset_key(data_cfg, train)
    cached = None if retrain else load_classifier(folder, device)
    if cached is not None:
        return cached
    aug = default_augment(train.name)
    model, report = train_classifier(
        train, test, epochs=epochs, device=device, augment=aug, progress=progress
    )
    info = {
        **report,
        "dataset": data_cfg.dataset,
        "key": folder.name,
        "class_names": list(train.class_names),
        "test_split": test_split,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    save_classifier(folder, model, info)
    model.info = {**info, "cache_dir": str(folder)}
    return model


def cached_classifier_info(data_cfg: DataConfig) -> tuple[Path, dict[str, Any] | None]:
    """(cache folder, its record or None) for the dataset ``data_cfg`` names; trains nothing."""
    folder = classifiers_root() / dataset_key(data_cfg, labelled_splits(data_cfg)[0])
    return folder, read_info(folder)
