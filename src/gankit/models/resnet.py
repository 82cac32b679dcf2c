"""Residual GANs in the style of SNGAN (Miyato et al. 2018, "Spectral Normalization for
GANs", appendix B.4) and BigGAN (Brock et al. 2019), for 28, 32, 64 and 128 px images.

Owns ``ResNetGenerator``, ``ResNetDiscriminator``, their blocks and the sizes they make:

    G: z -> linear -> [base x base] -> up-block x n -> BN, ReLU, conv3 -> tanh
       up-block: BN, ReLU, upsample 2x, conv3, BN, ReLU, conv3  (+ conv1x1, upsample 2x)
    D: optimized block -> down-block x (n - 1) -> block -> ReLU -> sum over H, W -> linear
       down-block: ReLU, conv3, ReLU, conv3, avgpool 2x  (+ avgpool 2x, conv1x1)

with ``base`` 4 (7 for 28 px) and n 2x stages. Labels enter G through class-conditional
batch norm in every block (gain and bias per label) and D through the shared projection
head on the pooled features (or a label map stacked on the image under ``concat``).
D carries spectral norm on every weight unless ``d_norm`` says otherwise. Convs start
Xavier-uniform as in the SNGAN code (gain sqrt 2 inside the residual branch, 1 elsewhere).
The shortcut's 1x1 conv and the 2x resampling commute, so each is done on the smaller
map. Activations are ReLU, as in both papers, whatever ``g_act``/``d_act`` say.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError
from gankit.models.layers import (
    ConditionalBatchNorm2d,
    DiscriminatorNet,
    GeneratorNet,
    LabelMaps,
    PairSpec,
    norm_layer,
    projection_head,
    spectral_norm_,
)

SIZES = {28: (7, 2), 32: (4, 3), 64: (4, 4), 128: (4, 5)}  # img_size -> (base, n)
G_NORMS = ("batch", "none")
D_NORMS = ("spectral", "layer", "none")


def layout(img_size: int) -> tuple[int, int]:
    """``(base, n)``: the side of the coarsest map and the number of 2x stages."""
    if img_size not in SIZES:
        sizes = ", ".join(map(str, SIZES))
        hint = min(SIZES, key=lambda s: abs(s - img_size))
        raise GankitError(f"resnet makes {sizes} px images - got {img_size}, use --img-size {hint}")
    return SIZES[img_size]


def check_norms(g_norm: str, d_norm: str, conditional: bool) -> None:
    """One-line errors for norms the residual nets do not take."""
    if g_norm not in G_NORMS:
        raise GankitError(f"--g-norm: resnet's G takes batch or none - got {g_norm}")
    if d_norm not in D_NORMS:
        raise GankitError(
            f"--d-norm: resnet's D takes spectral, layer or none - got {d_norm},"
            " use --d-norm spectral (SNGAN)"
        )
    if conditional and g_norm == "none":
        raise GankitError(
            "resnet's G takes labels through its batch norms - use --g-norm batch"
            " or --conditioning none"
        )


def _init_(conv: nn.Module, *, residual: bool) -> nn.Module:
    nn.init.xavier_uniform_(conv.weight, math.sqrt(2) if residual else 1.0)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _g_norm(norm: str, features: int, num_classes: int) -> nn.Module:
    # Labelled: per-label gain and bias; otherwise the plain norm of `norm`.
    if num_classes:
        return ConditionalBatchNorm2d(features, num_classes)
    return norm_layer(norm, features, conv=True)


def _normed(layer: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return layer(x) if labels is None else layer(x, labels)


class UpBlock(nn.Module):
    """G's residual block: ``[B, c_in, s, s] -> [B, c_out, 2s, 2s]``; labels feed its
    batch norms when ``num_classes`` > 0."""

    def __init__(self, c_in: int, c_out: int, *, norm: str, num_classes: int):
        super().__init__()
        self.norm1 = _g_norm(norm, c_in, num_classes)
        # A bias before batch norm is dead weight; without a norm it is the only offset.
        self.conv1 = _init_(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=norm != "batch"), residual=True)
        self.norm2 = _g_norm(norm, c_out, num_classes)
        self.conv2 = _init_(nn.Conv2d(c_out, c_out, 3, 1, 1), residual=True)
        self.shortcut = _init_(nn.Conv2d(c_in, c_out, 1), residual=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = F.relu(_normed(self.norm1, x, labels))
        h = self.conv1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.conv2(F.relu(_normed(self.norm2, h, labels)))
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


class DownBlock(nn.Module):
    """D's residual block: ``[B, c_in, s, s] -> [B, c_out, s/2, s/2]`` (``s`` when not
    ``down``). The ``first`` block (SNGAN's optimized block) sees raw images, so it
    starts with the conv rather than a ReLU."""

    def __init__(self, c_in: int, c_out: int, *, norm: str, first: bool, down: bool):
        super().__init__()
        self.first, self.down = first, down
        self.norm1 = nn.Identity() if first else norm_layer(norm, c_in, conv=True)
        self.conv1 = _init_(nn.Conv2d(c_in, c_out, 3, 1, 1), residual=True)
        self.norm2 = norm_layer(norm, c_out, conv=True)
        self.conv2 = _init_(nn.Conv2d(c_out, c_out, 3, 1, 1), residual=True)
        learned = first or down or c_in != c_out
        self.shortcut = _init_(nn.Conv2d(c_in, c_out, 1), residual=False) if learned else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(self.norm1(x))
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        skip = x
        if self.down:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        if self.shortcut is not None:
            skip = self.shortcut(skip)
        return h + skip


class ResNetGenerator(GeneratorNet):
    """z [B, z_dim] (+ labels [B]) -> images [B, channels, img_size, img_size] in [-1, 1].

    Args:
        spec: noise, image (side 28, 32, 64 or 128) and labels; when conditional,
            class-conditional batch norm in every block.
        width: channels of the finest stage; doubles per coarser stage.
        max_width: cap on channels per stage.
        norm: batch | none (none only unconditional).
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        width: int,
        max_width: int,
        norm: str,
    ):
        super().__init__(spec)
        self.base, n = layout(spec.img_size)
        # Stage i (0 = coarsest, base x base; n = finest, img_size) has width * 2^(n-i).
        widths = [min(width << (n - i), max_width) for i in range(n + 1)]
        # state size: [B, z_dim] -> [B, widths[0] * base * base]
        self.linear = _init_(nn.Linear(spec.z_dim, widths[0] * self.base**2), residual=False)
        labels = spec.num_classes if self.conditional else 0
        # state size: [B, widths[i], s, s] -> [B, widths[i+1], 2s, 2s]
        self.blocks = nn.ModuleList(
            UpBlock(widths[i], widths[i + 1], norm=norm, num_classes=labels) for i in range(n)
        )
        # state size: [B, width, img_size, img_size] -> [B, channels, img_size, img_size]
        self.out_norm = norm_layer(norm, widths[-1], conv=True)
        self.out_conv = _init_(nn.Conv2d(widths[-1], spec.channels, 3, 1, 1), residual=False)
        self._base_width = widths[0]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = self.check_noise(z, labels)
        labels = labels if self.conditional else None
        h = self.linear(z).view(B, self._base_width, self.base, self.base)
        for block in self.blocks:
            h = block(h, labels)
        x = torch.tanh(self.out_conv(F.relu(self.out_norm(h))))
        return self.checked_images(x, B)


class ResNetDiscriminator(DiscriminatorNet):
    """images [B, channels, img_size, img_size] (+ labels [B]) -> logits [B].

    Args:
        spec: noise, image (side 28, 32, 64 or 128) and labels; conditioning none |
            concat (a learned label map as one extra input channel) | projection
            (class term on the pooled features).
        width: channels of the first block; doubles per block.
        max_width: cap on channels per block.
        norm: spectral (every weight, SNGAN) | layer | none.
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        width: int,
        max_width: int,
        norm: str = "spectral",
    ):
        super().__init__(spec)
        _base, n = layout(spec.img_size)
        concat = spec.conditioning == "concat"
        self.embed = LabelMaps(spec.num_classes, spec.img_size) if concat else None
        # Block j (at img_size / 2^(j+1)) has width * 2^j channels; the last keeps the
        # coarsest size and width, as SNGAN's and BigGAN's final non-resampling block.
        widths = [min(width << j, max_width) for j in range(n)]
        blocks = [
            DownBlock(spec.channels + int(concat), widths[0], norm=norm, first=True, down=True)
        ]
        pairs = itertools.pairwise(widths)
        blocks += [DownBlock(a, b, norm=norm, first=False, down=True) for a, b in pairs]
        blocks += [DownBlock(widths[-1], widths[-1], norm=norm, first=False, down=False)]
        self.blocks = nn.Sequential(*blocks)  # [B, widths[-1], base, base]
        self.head = _init_(nn.Linear(widths[-1], 1), residual=False)  # psi(phi): [B, 1]
        self.project = projection_head(
            spec.conditioning, features=widths[-1], num_classes=spec.num_classes, norm=norm
        )
        if norm == "spectral":
            spectral_norm_(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_images(x, labels)
        if self.embed is not None:
            x = self.embed(x, labels)
        # Sum, not mean, over positions: phi grows with the image, as in SNGAN's D.
        phi = F.relu(self.blocks(x)).sum(dim=(2, 3))  # [B, widths[-1]]
        return self.logits(self.head(phi).squeeze(1), phi, labels)
