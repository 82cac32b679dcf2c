"""Random flips of a batch, drawn on the batch's device from an explicit generator.

Vectorised: one random draw per image and flip kind, then ``torch.where``
between the batch and its flipped copy - no per-image Python. Works on uint8
or float batches of shape [N, ...] with the image axes last.
"""

from __future__ import annotations

import torch

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
