"""What a built pair costs: parameters and forward FLOPs per image, for any family.

Owns ``cost`` and ``describe``. FLOPs are counted by PyTorch's own
``FlopCounterMode`` on a batch of one (matrix products and convolutions, a
multiply-add counted as 2), so they hold for every family without a hand-kept
formula per layer. Counting runs the nets in eval mode without gradients, which
leaves their state untouched: batch-norm statistics and spectral norm's power
iteration only move in training mode.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _forward_flops(net: nn.Module, *inputs: torch.Tensor | None) -> int:
    modes = [m.training for m in net.modules()]
    net.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(*inputs)
    finally:
        # Restore each module's own mode: callers may hold some in eval on purpose.
        for module, mode in zip(net.modules(), modes, strict=True):
            module.training = mode
    return counter.get_total_flops()


def cost(G: nn.Module, D: nn.Module) -> dict[str, tuple[int, int]]:
    """``{"G": (parameters, FLOPs per image), "D": (...)}`` of a pair built by
    ``gankit.models.build_models`` (any family: they share the forward contract)."""
    device = next(G.parameters()).device
    z = torch.zeros(1, G.z_dim, device=device)
    x = torch.zeros(1, D.channels, D.img_size, D.img_size, device=device)
    labels = torch.zeros(1, dtype=torch.long, device=device)
    flops = {
        "G": _forward_flops(G, z, labels if G.conditional else None),
        "D": _forward_flops(D, x, labels if D.conditional else None),
    }
    nets = {"G": G, "D": D}
    return {k: (sum(p.numel() for p in nets[k].parameters()), flops[k]) for k in nets}


def describe(G: nn.Module, D: nn.Module) -> str:
    """Two lines, e.g. ``G: 4,290,000 parameters, 1.23 GFLOPs per image``, for a pair
    built by ``gankit.models.build_models``."""
    return "\n".join(
        f"{name}: {params:,} parameters, {_si(flops)}FLOPs per image"
        for name, (params, flops) in cost(G, D).items()
    )


def _si(n: int) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g} {prefix}"
    return f"{n} "
