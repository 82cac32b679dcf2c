"""The built-in ``shapes`` dataset: coloured circles, squares and triangles, made from a seed.

A small labelled RGB dataset that needs no files, for smoke tests and for
seeing conditioning work. Each image is one shape (label 0 circle, 1 square,
2 triangle) of random size, rotation and position, wholly inside the image, on
a plain background. Shape and background differ by at least 55 levels in every
channel (one dark, one light), so they stay distinct in grey too. Classes are
balanced. Shape sizes are drawn as equal *areas* across classes, so the label
cannot be guessed from the pixel count.

Generation is vectorised: every parameter is drawn up front from one seeded
``torch.Generator``, then masks are computed by broadcasting coordinate grids
over [N, H, W] in chunks (chunking changes memory use, never the images).
Geometry is in units of the image side, so the same seed and count give the same
scenes at 32 and 64 pixels (up to a one-pixel border margin).
"""

from __future__ import annotations

import math

import torch

CLASS_NAMES = ["circle", "square", "triangle"]
NATIVE_SIZE = 64
TEST_SEED_OFFSET = 1_000_003  # the test split is another seed, never overlapping train's
_AREA_SIDE = (0.2, 0.5)  # side of the equal-area square, as a fraction of the image side
_CHUNK = 1024  # images rendered at once: [1024, 64, 64] float masks stay ~16 MB each

# Circumradius / area-side ratio per class, so every shape of a given area fits
# inside its circumscribed circle: circle 1/sqrt(pi), square 1/sqrt(2) (any
# rotation), equilateral triangle sqrt(4 / (3 sqrt(3))).
_CIRCUMRADIUS = torch.tensor(
    [1 / math.sqrt(math.pi), 1 / math.sqrt(2), math.sqrt(4 / (3 * 3**0.5))]
)


def _draw_params(count: int, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every random choice, in a fixed order, so the images depend only on the seed."""
    g = generator
    labels = (torch.arange(count) % len(CLASS_NAMES))[torch.randperm(count, generator=g)]
    side = _AREA_SIDE[0] + (_AREA_SIDE[1] - _AREA_SIDE[0]) * torch.rand(count, generator=g)
    angle = 2 * math.pi * torch.rand(count, generator=g)
    where = torch.rand(count, 2, generator=g)
    dark_background = torch.rand(count, generator=g) < 0.5
    low = 100 * torch.rand(count, 3, generator=g)  # a dark colour, 0..100 per channel
    high = 155 + 100 * torch.rand(count, 3, generator=g)  # a light colour, 155..255
    radius = side * _CIRCUMRADIUS[labels]
    # Keep the circumscribed circle (plus 1.5 px) inside; tiny images just centre it.
    span = (1 - 2 * radius - 3.0 / size).clamp(min=0)
    centre = 0.5 + (where - 0.5) * span[:, None]
    dark = dark_background[:, None]
    return {
        "labels": labels,
        "side": side,
        "radius": radius,
        "angle": angle,
        "centre": centre,
        "background": torch.where(dark, low, high).round().to(torch.uint8),
        "foreground": torch.where(dark, high, low).round().to(torch.uint8),
    }


def _circle(dx: torch.Tensor, dy: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    return dx**2 + dy**2 <= p["radius"][:, None, None] ** 2


def _square(dx: torch.Tensor, dy: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    # Both coordinates in the square's rotated frame within half a side of the centre.
    cos, sin = (f(p["angle"])[:, None, None] for f in (torch.cos, torch.sin))
    half_side = p["side"][:, None, None] / 2
    inside = (dx * cos + dy * sin).abs_() <= half_side
    return inside.logical_and_((dy * cos - dx * sin).abs_() <= half_side)


def _triangle(dx: torch.Tensor, dy: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    # Equilateral: inside three half-planes whose normals are 120 degrees apart, each
    # at the inradius (half the circumradius) from the centre.
    inradius = p["radius"][:, None, None] / 2
    inside = None
    for k in range(3):
        phi = p["angle"][:, None, None] + 2 * math.pi * k / 3
        half = dx * torch.cos(phi) + dy * torch.sin(phi) <= inradius
        inside = half if inside is None else inside.logical_and_(half)
    return inside


def _masks(p: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Bool [n, size, size]: which pixels (sampled at their centres) the shape covers."""
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    dx = grid[None, None, :] - p["centre"][:, 0, None, None]  # [n, 1, W]
    dy = grid[None, :, None] - p["centre"][:, 1, None, None]  # [n, H, 1]
    masks = torch.empty(dx.shape[0], size, size, dtype=torch.bool)
    # One class at a time, on just its images: a third of the work of drawing all three.
    for label, draw in enumerate((_circle, _square, _triangle)):
        chosen = p["labels"] == label
        if chosen.any():
            subset = {k: v[chosen] for k, v in p.items()}
            masks[chosen] = draw(dx[chosen], dy[chosen], subset)
    return masks


def generate_shapes(
    count: int, seed: int, size: int = NATIVE_SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generates ``count`` images (uint8 [count, 3, size, size]) and their int64 labels.

    Args:
        count: how many images.
        seed: the same seed gives the same images and labels.
        size: side in pixels (16 or more).
    """
    generator = torch.Generator().manual_seed(seed)
    params = _draw_params(count, size, generator)
    images = torch.empty(count, 3, size, size, dtype=torch.uint8)
    for start in range(0, count, _CHUNK):
        chunk = {k: v[start : start + _CHUNK] for k, v in params.items()}
        mask = _masks(chunk, size)[:, None]  # [n, 1, H, W]
        fg = chunk["foreground"][:, :, None, None]
        bg = chunk["background"][:, :, None, None]
        # bg + mask * (fg - bg) wraps modulo 256 in uint8 and so lands exactly on fg or
        # bg; written in place, it is ~20x faster than a broadcasting torch.where.
        torch.mul(mask, fg - bg, out=images[start : start + _CHUNK]).add_(bg)
    return images, params["labels"]


def split_seed_and_count(seed: int, count: int, split: str) -> tuple[int, int]:
    """The seed and image count of a split: test is a sixth as many from another seed."""
    if split == "test":
        return seed + TEST_SEED_OFFSET, max(count // 6, 1)
    return seed, count
