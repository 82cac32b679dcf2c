"""Image tensors and files: float <-> uint8, grids, PNG via Pillow.

Images travel as uint8 NCHW tensors; the one conversion to the models' range
happens on the device (``to_float``), and generated images are quantised back
with ``to_uint8`` before anything looks at them. Both follow the run's
``PixelScale``: [-1, 1] by default, or per-channel mean/std normalisation
(torchvision's ``Normalize``), which a run's config states and ``pixel_scale``
reads from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit import durable
from gankit.config import DataConfig
from gankit.errors import GankitError


@dataclass(frozen=True)
class PixelScale:
    """How uint8 pixels map to the models' floats: ``(x / 255 - mean_c) / std_c``.

    Empty ``mean`` and ``std`` mean [-1, 1] (mean = std = 0.5 for every channel),
    computed as ``x / 127.5 - 1`` so that runs made before channel statistics
    existed keep their exact bits.
    """

    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def _affine(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) shaped [1, C, 1, 1] for ``x``'s channels, on its device."""
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.mean, device=x.device).view(shape)
        return mean, torch.tensor(self.std, device=x.device).view(shape)


MINMAX = PixelScale()


def pixel_scale(data: DataConfig) -> PixelScale:
    """The scale a run trains at, from its (completed) data config."""
    if data.normalize == "minmax":
        return MINMAX
    # Empty figures here would silently mean [-1, 1]: the config must come from a run.
    assert data.normalize_mean and data.normalize_std, "channel scale of an uncompleted config"
    return PixelScale(tuple(data.normalize_mean), tuple(data.normalize_std))


def to_float(
    x: torch.Tensor, dtype: torch.dtype = torch.float32, scale: PixelScale = MINMAX
) -> torch.Tensor:
    """uint8 [0, 255] -> float: [-1, 1], or ``(x / 255 - mean_c) / std_c`` by ``scale``."""
    if scale == MINMAX:
        return x.to(dtype).mul_(1 / 127.5).sub_(1.0)
    mean, std = scale._affine(x)
    return x.to(dtype).mul_(1 / 255).sub_(mean).div_(std)


def to_uint8(x: torch.Tensor, scale: PixelScale = MINMAX) -> torch.Tensor:
    """float -> uint8, rounded to nearest and clamped (inverse of ``to_float`` at ``scale``)."""
    x = x.detach().float()
    if scale == MINMAX:
        return x.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
    mean, std = scale._affine(x)
    return x.mul(std).add_(mean).mul_(255).round_().clamp_(0, 255).to(torch.uint8)


def make_grid(
    images: torch.Tensor, nrow: int, padding: int = 2, pad_value: int = 255
) -> torch.Tensor:
    """Tiles uint8 [N, C, H, W] into one [C, H', W'] image, ``nrow`` images per row."""
    n, c, h, w = images.shape
    nrow = max(1, min(nrow, n))
    rows = math.ceil(n / nrow)
    grid = torch.full(
        (c, rows * (h + padding) + padding, nrow * (w + padding) + padding),
        pad_value,
        dtype=torch.uint8,
    )
    # One strided view of the grid's cells, filled in a single copy.
    cells = torch.full((rows * nrow, c, h, w), pad_value, dtype=torch.uint8)
    cells[:n] = images.cpu()
    inner = grid[:, padding:, padding:].unfold(1, h, h + padding).unfold(2, w, w + padding)
    inner.copy_(cells.view(rows, nrow, c, h, w).permute(2, 0, 1, 3, 4))
    return grid


def upscale(image: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour upscaling of a [C, H, W] uint8 image (small images stay crisp)."""
    if factor <= 1:
        return image
    return image.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)


def to_pil(image: torch.Tensor) -> Image.Image:
    """[C, H, W] uint8 (C = 1 or 3) -> PIL image."""
    array = image.cpu().permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        return Image.fromarray(np.ascontiguousarray(array[:, :, 0]), mode="L")
    return Image.fromarray(np.ascontiguousarray(array), mode="RGB")


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Writes a [C, H, W] uint8 image atomically and durably (see ``gankit.durable``).

    Raises:
        GankitError: the name is not a .png, or the disk is full or failing (any previous
            file at ``path`` is intact).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise GankitError(f"{path}: output must end in .png")
    tmp = durable.temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        to_pil(image).save(tmp, format="PNG")
        durable.replace_file(tmp, path, fault="samples.write")
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise GankitError(
            f"cannot write {path}: {durable.describe(e)} - check the folder and free space"
        ) from None
    return path


def save_grid(images: torch.Tensor, path: str | Path, nrow: int, min_side: int = 256) -> Path:
    """Saves uint8 [N, C, H, W] as one grid PNG, upscaled so the grid is at least ``min_side`` px."""
    grid = make_grid(images, nrow)
    factor = max(1, math.ceil(min_side / max(grid.shape[1:])))
    return save_png(upscale(grid, min(factor, 4)), path)
