"""Seeded noise, labels and image generation from a generator network.

The image for seed ``s`` depends only on ``s`` (and the label), never on how
many images are made at once or on the device: each noise vector is drawn on
the CPU from its own generator seeded with ``s`` (EDM's per-sample generators),
and G runs in eval mode so batch norm uses its running statistics.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from gankit.images import MINMAX, to_uint8


def noise(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """[len(seeds), z_dim] standard normal noise, row i from ``seeds[i]`` alone."""
    rng = torch.Generator()
    rows = [torch.randn(z_dim, generator=rng.manual_seed(int(s))) for s in seeds]
    return torch.stack(rows) if rows else torch.empty(0, z_dim)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between noise vectors a and b for each t in [0, 1] -> [len(t), z]."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_n * b_n).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def generate(
    G: nn.Module,
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    batch_size: int = 256,
) -> torch.Tensor:
    """Runs G in eval mode over ``z`` (and ``labels``) in batches -> uint8 [N, C, H, W] on the CPU.

    G's outputs are turned into pixels at ``G.pixel_scale`` (set by ``load_generator`` and
    the training state from the run's config), [-1, 1] when G has none.
    """
    device = next(G.parameters()).device
    # Models know only integers; where a run's G is built, its pixel scale is set on it.
    scale = getattr(G, "pixel_scale", MINMAX)
    was_training = G.training
    G.eval()
    out = []
    try:
        for i in range(0, len(z), batch_size):
            zb = z[i : i + batch_size].to(device)
            yb = None if labels is None else labels[i : i + batch_size].to(device)
            out.append(to_uint8(G(zb, yb), scale).cpu())
    finally:
        G.train(was_training)
    return (
        torch.cat(out)
        if out
        else torch.empty(0, G.channels, G.img_size, G.img_size, dtype=torch.uint8)
    )


def label_grid_inputs(num_classes: int, per_label: int, z_dim: int, first_seed: int = 0):
    """Noise and labels for a grid with one row per label; column j uses seed ``first_seed + j``.

    Sharing the noise down each column shows what the label alone changes.
    """
    z = noise(range(first_seed, first_seed + per_label), z_dim).repeat(num_classes, 1)
    labels = torch.arange(num_classes).repeat_interleave(per_label)
    return z, labels


def interpolation_inputs(seed_a: int, seed_b: int, steps: int, z_dim: int) -> torch.Tensor:
    """``steps`` noise vectors on the great circle from seed_a's noise to seed_b's."""
    a, b = noise([seed_a, seed_b], z_dim)
    return slerp(a, b, torch.linspace(0, 1, steps))


@torch.no_grad()
def sample_batches(
    G: nn.Module,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 256,
    label: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Streams ``n`` generated images as (uint8 [b, C, H, W] on the CPU, labels or None).

    Image i uses seed ``seed + i``; a conditional G gets balanced labels
    (i mod num_classes) unless ``label`` fixes one. Nothing is kept between
    batches, so memory does not grow with ``n``.
    """
    num_classes = G.num_classes if G.conditional else 0
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        z = noise([seed + i for i in idx], G.z_dim)
        if not num_classes:
            y = None
        elif label is not None:
            y = torch.full((len(idx),), label)
        else:
            y = torch.tensor(idx) % num_classes
        yield generate(G, z, y, batch_size=batch_size), y
