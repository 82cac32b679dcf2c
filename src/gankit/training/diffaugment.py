"""Differentiable augmentation of every image D sees, with a fixed or adaptive strength.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training") transforms real and generated images alike, with operations that
gradients flow through, so that D cannot memorise the training set and G is not
taught to produce augmented images. ADA (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", section 3) applies each operation to an
image with probability ``p`` and tunes ``p`` from D's overfitting heuristic
``r_t = E[sign(D(real))]``: up when ``r_t`` is above the target, down below it.

Owns the operations (``AUGMENTS``: translation, cutout, colour), ``DiffAugment`` (a
module applying a policy with probability ``p``), ``Augmented`` (D behind the
augmentation, so every caller of D - both losses, the gradient penalties - sees
augmented images) and ``AdaptiveStrength`` (ADA's controller). Every random draw
comes from one explicit generator through ``rand_shard``, so N ranks draw what one
process draws and a resumed run draws what an uninterrupted one would; ``p`` lives
in a tensor on the device, so adapting it needs no host sync.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.registry import Registry, unknown_name_message
from gankit.rng import Shard, rand_shard

# op(x, generator, shard) -> the transformed batch; x is float [N, C, H, W] in [-1, 1].
Op = Callable[[Tensor, torch.Generator, Shard], Tensor]
AUGMENTS: Registry[Op] = Registry("augmentation")
TRANSLATE_RATIO = 0.125  # shifts of up to 1/8 of the side, as DiffAugment's default
CUTOUT_RATIO = 0.5  # a zeroed square of half the side, as DiffAugment's default
ADA_INTERVAL_STEPS = 4  # D steps between adjustments of p (ADA's default)


def _uniform(x: Tensor, generator: torch.Generator, shard: Shard, *shape: int) -> Tensor:
    return rand_shard((x.shape[0], *shape), generator, x.device, shard, dtype=x.dtype)


def _integers(x: Tensor, generator, shard: Shard, low: int, high: int) -> Tensor:
    """Integers in [low, high] per image, [N, 1, 1], from one uniform draw."""
    u = rand_shard((x.shape[0],), generator, x.device, shard)
    k = (u * (high - low + 1)).floor().long().clamp_(max=high - low) + low
    return k.view(-1, 1, 1)


@AUGMENTS.register("translation")
def translation(x: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
    """Shifts each image by whole pixels (up to 1/8 of the side), zeros coming in."""
    n, _, h, w = x.shape
    sh, sw = int(h * TRANSLATE_RATIO + 0.5), int(w * TRANSLATE_RATIO + 0.5)
    dy, dx = _integers(x, generator, shard, -sh, sh), _integers(x, generator, shard, -sw, sw)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Output pixel (r, c) reads input (r - dy, c - dx) of the zero-padded image.
    src_r = (rows - dy).clamp(-1, h) + 1  # [N, H, 1] in [0, h + 1]
    src_c = (cols - dx).clamp(-1, w) + 1  # [N, 1, W]
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, src_r, src_c]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2)


@AUGMENTS.register("cutout")
def cutout(x: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
    """Zeroes a square of half the side at a random centre in each image."""
    _, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    cy = _integers(x, generator, shard, 0, h - 1 + (1 - ch % 2))
    cx = _integers(x, generator, shard, 0, w - 1 + (1 - cw % 2))
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside_r = (rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch)
    inside_c = (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw)
    keep = ~(inside_r & inside_c)  # [N, H, W]
    return x * keep.unsqueeze(1).to(x.dtype)


@AUGMENTS.register("color")
def color(x: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
    """Random brightness, saturation and contrast (colour images only)."""
    brightness = _uniform(x, generator, shard, 1, 1, 1) - 0.5
    x = x + brightness
    saturation = _uniform(x, generator, shard, 1, 1, 1) * 2
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * saturation + mean_c
    contrast = _uniform(x, generator, shard, 1, 1, 1) + 0.5
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean


def parse_policy(policy: str, channels: int) -> list[str]:
    """``"translation,cutout"`` -> the operation names, checked; ``""`` -> none."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    for name in names:
        if name not in AUGMENTS:
            raise GankitError(
                unknown_name_message("augmentation", name, AUGMENTS.names())
                + " - set --diffaug to a comma-separated list of them"
            )
    if "color" in names and channels != 3:
        raise GankitError(
            "--diffaug color needs colour images (this data has 1 channel) - drop 'color'"
        )
    if len(set(names)) != len(names):
        raise GankitError(f"--diffaug {policy!r} names an augmentation twice - list each once")
    return names


class DiffAugment(nn.Module):
    """Applies each operation of a policy to each image with probability ``p``.

    Args:
        names: operations from ``AUGMENTS``, applied in this order.
        p: initial probability per image and operation (1 = DiffAugment's "always").
        generator: on the images' device; the only source of randomness.
        shard: (rank, world size): draws are made for the global batch.
    """

    def __init__(
        self, names: list[str], *, p: float, generator: torch.Generator, shard: Shard = (0, 1)
    ):
        super().__init__()
        self.names, self.generator, self.shard = list(names), generator, shard
        self.register_buffer("p", torch.tensor(float(p), device=generator.device))

    def forward(self, x: Tensor) -> Tensor:
        for name in self.names:
            # The choice and the operation's own draws are made for every image, whatever
            # p is, so the generator advances the same way at any strength.
            apply = _uniform(x, self.generator, self.shard, 1, 1, 1) < self.p
            x = torch.where(apply, AUGMENTS.get(name)(x, self.generator, self.shard), x)
        return x


class Augmented(nn.Module):
    """D behind an augmentation: ``D(augment(x), labels)``.

    The gradient of any penalty flows through the augmentation back to ``x``, as in
    StyleGAN2-ADA, whose R1 is taken on augmented reals with respect to the originals.
    """

    def __init__(self, D: nn.Module, augment: DiffAugment):
        super().__init__()
        self.D, self.augment = D, augment

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.D(self.augment(x), labels)


class AdaptiveStrength:
    """ADA's controller: nudges ``p`` so that ``E[sign(D(real))]`` stays near ``target``.

    Args:
        augment: the module whose ``p`` is tuned (in place, on its device).
        target: the wanted ``r_t`` (ADA uses 0.6).
        speed_images: images over which ``p`` can move from 0 to 1 (ADA: 500k).
        interval_steps: D steps between adjustments; their batches' signs are averaged.
        batch_size: real images per D step (global).
        reduce: averages a tensor over data-parallel ranks (None in one process), so that
            every rank moves p alike; called once per interval, not per step.
    """

    def __init__(
        self,
        augment: DiffAugment,
        *,
        target: float,
        speed_images: int,
        interval_steps: int,
        batch_size: int,
        reduce: Callable[[Tensor], Tensor] | None = None,
    ):
        self.augment, self.target, self.interval = augment, target, interval_steps
        self.reduce = reduce
        self.step_size = batch_size * interval_steps / speed_images
        self.sign_sum = torch.zeros((), device=augment.p.device)
        self.count = 0

    def observe(self, real_sign_mean: Tensor) -> None:
        """Adds one D step's ``mean(sign(D(real)))`` over this rank's batch."""
        self.sign_sum += real_sign_mean.detach().float()
        self.count += 1
        if self.count == self.interval:
            total = self.reduce(self.sign_sum) if self.reduce is not None else self.sign_sum
            r_t = total / self.count
            p = self.augment.p + torch.sign(r_t - self.target) * self.step_size
            self.augment.p.copy_(p.clamp(0.0, 1.0))
            self.sign_sum.zero_()
            self.count = 0

    def state_dict(self) -> dict[str, Tensor]:
        """What a checkpoint holds to resume bit for bit (``p`` and the partial interval)."""
        return {
            "p": self.augment.p.detach().clone(),
            "sign_sum": self.sign_sum.clone(),
            "count": torch.tensor(self.count),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.augment.p.copy_(state["p"])
        self.sign_sum.copy_(state["sign_sum"])
        self.count = int(state["count"])
