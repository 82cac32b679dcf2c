"""Random flips, crops and rotations of a batch, drawn on its device from an explicit generator.

Vectorised: one random draw per image and kind, then ``torch.where``, one
gather or one ``grid_sample`` for the whole batch - no per-image Python. Every
draw is made for the global batch and sliced to this rank (``rng.rand_shard``),
so N ranks see what one process sees and a resumed run what an uninterrupted
one saw. The draws come in a fixed order - horizontal flips, vertical flips,
crop offsets, angles - and a kind that is off draws nothing, so adding a kind
never changes the images of runs without it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gankit.config import DataConfig
from gankit.rng import Shard, rand_shard


def _flip_some(x: torch.Tensor, dim: int, generator: torch.Generator, shard: Shard) -> torch.Tensor:
    flip = rand_shard((x.shape[0],), generator, x.device, shard) < 0.5
    return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(dim), x)


def augment_flips(
    x: torch.Tensor,
    *,
    hflip: bool,
    vflip: bool,
    generator: torch.Generator,
    shard: Shard = (0, 1),
) -> torch.Tensor:
    """Flips each image left-right (``hflip``) and/or top-bottom (``vflip``) with p = 0.5.

    Args:
        x: [N, C, H, W] batch, any dtype.
        hflip: draw horizontal flips (one draw of N values, made first).
        vflip: draw vertical flips (N values, after the horizontal ones).
        generator: on ``x``'s device; the only source of randomness.
        shard: (rank, world size): draw for the global batch and keep this rank's slice.

    Returns:
        A new tensor (or ``x`` itself when neither flip is enabled).
    """
    if hflip:
        x = _flip_some(x, -1, generator, shard)
    if vflip:
        x = _flip_some(x, -2, generator, shard)
    return x


def random_crop(
    x: torch.Tensor, padding: int, *, generator: torch.Generator, shard: Shard = (0, 1)
) -> torch.Tensor:
    """Pads each side by ``padding`` (reflecting the edge) and cuts H x W back out at random.

    Each image's offsets are uniform in 0..2*padding on both axes (torchvision's
    ``RandomCrop(size, padding, padding_mode="reflect")``), drawn as N rows then N columns.

    Args:
        x: [N, C, H, W] float batch; ``padding`` must be smaller than H and W.
    """
    n, _, h, w = x.shape
    span = 2 * padding + 1
    # One uniform draw per offset, scaled to an integer: exact on every device.
    offsets = (rand_shard((n, 2), generator, x.device, shard) * span).long().clamp_(max=span - 1)
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    rows = (offsets[:, 0, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (offsets[:, 1, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_rotation(
    x: torch.Tensor, degrees: float, *, generator: torch.Generator, shard: Shard = (0, 1)
) -> torch.Tensor:
    """Rotates each image about its centre by an angle uniform in [-degrees, degrees].

    Bilinear (``affine_grid`` + ``grid_sample``); what comes in at the corners is the
    image reflected at its edge, so no blank wedges teach G to draw them.

    Args:
        x: [N, C, H, W] float batch.
    """
    n = x.shape[0]
    angle = (rand_shard((n,), generator, x.device, shard) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(angle)
    # The output pixel at (u, v) reads the input at R(-angle) (u, v): a rotation by +angle.
    theta = torch.stack([torch.stack([cos, sin, zero], 1), torch.stack([-sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def augments(data: DataConfig) -> bool:
    """Whether ``augment`` changes anything for these data options."""
    return data.hflip or data.vflip or data.crop_padding > 0 or data.rotate_degrees > 0


def augment(
    x: torch.Tensor, data: DataConfig, *, generator: torch.Generator, shard: Shard = (0, 1)
) -> torch.Tensor:
    """The augmentations ``data`` turns on, in the fixed order flips, crop, rotation.

    Args:
        x: [N, C, H, W] float batch in the models' range (this rank's share).
        data: the run's data options (hflip, vflip, crop_padding, rotate_degrees).
        generator: on ``x``'s device; the only source of randomness.
        shard: (rank, world size): draws are made for the global batch and sliced.

    Returns:
        A new tensor, or ``x`` itself when nothing is on.
    """
    x = augment_flips(x, hflip=data.hflip, vflip=data.vflip, generator=generator, shard=shard)
    if data.crop_padding > 0:
        x = random_crop(x, data.crop_padding, generator=generator, shard=shard)
    if data.rotate_degrees > 0:
        x = random_rotation(x, data.rotate_degrees, generator=generator, shard=shard)
    return x
