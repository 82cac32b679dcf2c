"""Matmul and convolution FLOPs of a GAN training step, counted from layer shapes.

A forward hook on every Linear / Conv2d / ConvTranspose2d records 2 * MACs
for one image; a training step's cost is then built from forward passes the
way the loop runs them (backward ~ 2x forward):

  per D step and real image:  G fwd + 2 D fwd + 2 D bwd            = G + 6 D
  per G step and image:       D fwd + D bwd + G bwd (G fwd reused)  = 3 D + 2 G
  WGAN-GP adds, per D step:   D fwd on x_hat + double backward      ~ 4 D
"""

from __future__ import annotations

import torch
from torch import nn


def forward_flops(module: nn.Module, *inputs) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass per image of the batch in ``inputs``."""
    total = [0.0]

    def hook(m, args, out):
        if isinstance(m, nn.Linear):
            total[0] += 2 * m.in_features * m.out_features * out.shape[0]
        elif isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2 * m.in_channels * k * out.numel() // m.groups
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2 * m.out_channels * k * args[0].numel() // m.groups

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total[0] / inputs[0].shape[0]


def step_flops_per_image(G: nn.Module, D: nn.Module, n_critic: int, gp: bool, labels) -> float:
    """Training FLOPs per real image shown to D (see the module docstring)."""
    z = torch.zeros(2, G.z_dim)
    was = G.training, D.training
    G.eval(), D.eval()
    g = forward_flops(G, z, labels)
    d = forward_flops(D, torch.zeros(2, G.channels, G.img_size, G.img_size), labels)
    G.train(was[0]), D.train(was[1])
    per_d_step = g + 6 * d + (4 * d if gp else 0)
    return per_d_step + (3 * d + 2 * g) / n_critic
