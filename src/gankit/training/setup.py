"""Before step 0: the device, the data, and the config completed from the data.

A run's ``config.yaml`` must describe it fully, so the values the user left
to the data (image size, channels, class names) are filled in here, and the
models are built once to validate the combination before any folder is made.
"""

from __future__ import annotations

import dataclasses

import torch

from gankit import config as config_io
from gankit.config import Config
from gankit.data import ImageData, load_dataset, resolve_normalization
from gankit.errors import GankitError
from gankit.models import build_models

# Options that may change when a run is resumed (schedule, logging, device), as the
# config's fields declare; imported from here as ``training.RESUMABLE``.
RESUMABLE = config_io.RESUMABLE


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; an explicit name is checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GankitError(
            f"unknown device {name!r} (valid: auto, cpu, cuda, cuda:N, mps)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GankitError(
            "--device cuda asked for, but this torch sees no CUDA GPU - use --device cpu"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GankitError("--device mps asked for, but MPS is not available - use --device cpu")
    return device


def prepare(cfg: Config) -> tuple[Config, ImageData]:
    """Loads the data and returns the config completed from it (checked by building the models)."""
    if not cfg.data.dataset:
        raise GankitError(
            f"preset {cfg.preset or '(none)'} trains on an image folder - pass --dataset PATH/TO/IMAGES"
        )
    data = load_dataset(cfg.data)
    names = list(data.class_names) if (data.labels is not None and cfg.data.use_labels) else []
    resolved = dataclasses.replace(
        resolve_normalization(cfg.data, data),
        img_size=int(data.images.shape[-1]),
        channels=int(data.images.shape[1]),
        class_names=names,
    )
    if cfg.data.class_names and cfg.data.class_names != names:
        raise GankitError(
            f"the dataset's labels changed since this run started ({len(names)} classes now, "
            f"{len(cfg.data.class_names)} before) - train a new run"
        )
    cfg = dataclasses.replace(cfg, data=resolved)
    build_models(
        cfg.model, img_size=resolved.img_size, channels=resolved.channels, num_classes=len(names)
    )
    _check(cfg, len(data.images))
    return cfg, data


def _check(cfg: Config, n_images: int) -> None:
    t = cfg.train
    if t.batch_size < 1 or t.n_critic < 1:
        raise GankitError("--batch-size and --n-critic must be at least 1")
    if t.steps < 0 or t.epochs < 0 or (t.steps == 0 and t.epochs == 0):
        raise GankitError("set a positive --steps or --epochs")
    if t.batch_size > n_images:
        raise GankitError(
            f"--batch-size {t.batch_size} is larger than the dataset ({n_images} images)"
        )
    for name in ("lr_g", "lr_d"):
        if getattr(t, name) <= 0:
            raise GankitError(f"--{name.replace('_', '-')} must be positive")
    for name in (
        "log_every",
        "sample_every",
        "sample_every_epochs",
        "checkpoint_every",
        "eval_every",
    ):
        if getattr(cfg.log, name) < 0:
            raise GankitError(f"--{name.replace('_', '-')} must be 0 or more")
    for name in ("compile", "channels_last"):
        if getattr(t, name) not in ("auto", "on", "off"):
            flag = "--" + name.replace("_", "-")
            raise GankitError(f"{flag} must be auto, on or off (got {getattr(t, name)!r})")
    if cfg.log.log_every == 0:
        raise GankitError("--log-every must be at least 1")
