"""Keras layers whose behaviour PyTorch's own do not match, for the ``keras`` family.

Owns ``Dense`` and ``Conv2D``/``Conv2DTranspose`` with Keras' fused activation and
TensorFlow's 'same' padding (the odd pixel at the bottom/right, where PyTorch pads
both sides alike), and a ``Dropout`` whose masks are explicit draws that resume and
shard across data-parallel ranks like every other random draw of gankit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from gankit.rng import Shard, rand_shard

# Activations a dense or conv layer may carry inside it (Keras' `activation=`).
FUSED: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "": lambda x: x,
    "relu": torch.relu,
    "tanh": torch.tanh,
}


class Dense(nn.Linear):
    """Keras' Dense: a linear layer with an optional fused activation."""

    def __init__(self, n_in: int, n_out: int, act: str):
        super().__init__(n_in, n_out)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return FUSED[self.act](super().forward(x))


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one side: the output is ceil(size / stride) and the
    odd pixel goes at the end (PyTorch's symmetric padding would shift it)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2D(nn.Conv2d):
    """Keras' Conv2D: 'valid' (no padding) or 'same' (TensorFlow's padding)."""

    def __init__(self, c_in: int, c_out: int, *, kernel: int, stride: int, same: bool, act: str):
        super().__init__(c_in, c_out, kernel, stride)
        self.same, self.act = same, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            k, s = self.kernel_size[0], self.stride[0]
            top, bottom = same_padding(x.shape[-2], k, s)
            left, right = same_padding(x.shape[-1], k, s)
            x = F.pad(x, (left, right, top, bottom))
        return FUSED[self.act](super().forward(x))


class Conv2DTranspose(nn.ConvTranspose2d):
    """Keras' Conv2DTranspose: 'same' gives side * stride, cropped as TensorFlow crops
    (the extra pixel off the bottom/right); 'valid' is PyTorch's padding 0."""

    def __init__(self, c_in: int, c_out: int, *, kernel: int, stride: int, same: bool, act: str):
        super().__init__(c_in, c_out, kernel, stride)
        self.same, self.act = same, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.same:
            s, crop = self.stride[0], (self.kernel_size[0] - self.stride[0]) // 2
            h, w = x.shape[-2] * s, x.shape[-1] * s
            y = y[..., crop : crop + h, crop : crop + w]
        return FUSED[self.act](y)


class Dropout(nn.Dropout):
    """Keras' Dropout, with masks that resume and shard as gankit's other random draws.

    torch's Dropout draws from the global generator, which a checkpoint does not hold
    and from which every data-parallel rank would draw the same masks. Here call k of
    the layer draws from a generator seeded with seed + k: the seed comes from the
    seeded initialisation, seed and k travel with the weights (the module's extra
    state), and each rank keeps its slice of the global batch's mask (``rand_shard``).
    """

    def __init__(self, rate: float):
        super().__init__(rate)
        self.seed = int(torch.randint(0, 2**62, ()))
        self.calls = 0  # masks drawn so far; eval mode draws none

    # Eager: a compiled graph would specialise on the call count and recompile each step.
    @torch.compiler.disable
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        generator = torch.Generator(device=x.device).manual_seed(self.seed + self.calls)
        self.calls += 1
        keep = rand_shard(tuple(x.shape), generator, x.device, _shard()) >= self.p
        return x * keep / (1 - self.p)

    def get_extra_state(self) -> torch.Tensor:
        return torch.tensor([self.seed, self.calls])

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.seed, self.calls = (int(v) for v in state.tolist())


def _shard() -> Shard:
    # The global batch is split evenly across data-parallel ranks (see gankit.rng).
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return (0, 1)
