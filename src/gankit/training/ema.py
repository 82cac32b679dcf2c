"""Exponential moving average of the generator's weights (Karras et al. style).

The decay is stated as a half-life in images, so it means the same at any
batch size: after ``halflife_images`` images, an old weight's share halves.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, G: nn.Module, halflife_images: int, batch_size: int):
        self.model = copy.deepcopy(G).eval().requires_grad_(False)
        self.beta = 0.5 ** (batch_size / max(halflife_images, 1))
        self._src = list(G.parameters())
        self._dst = list(self.model.parameters())
        self._src_buffers = list(G.buffers())
        self._dst_buffers = list(self.model.buffers())

    @torch.no_grad()
    def update(self) -> None:
        # ema <- beta * ema + (1 - beta) * w, in one fused call over all tensors.
        torch._foreach_lerp_(self._dst, self._src, 1.0 - self.beta)
        # Buffers (batch-norm statistics, spectral-norm vectors) are copied, not averaged.
        for dst, src in zip(self._dst_buffers, self._src_buffers):
            dst.copy_(src)
