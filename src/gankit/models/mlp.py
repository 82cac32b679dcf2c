"""The fully connected GAN of the source documents (Goodfellow et al. 2014).

Owns ``MLPGenerator`` and ``MLPDiscriminator``: the "basic GAN" of seed 000
(100 -> 784 with no hidden layer), the vanilla GAN of seed 003 (G hidden
256/512/1024) and the flower MLP GAN of seed 004. Labels, when used, enter as
an embedding concatenated to the input (cGAN, Mirza & Osindero 2014) or
through a projection head in D (Miyato & Koyama 2018).

Weights keep PyTorch's default initialisation (uniform, scaled by fan-in): the
DCGAN N(0, 0.02) rule was tuned for conv nets, and with 784-wide inputs it
starts D near-constant.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.models.layers import (
    DiscriminatorNet,
    GeneratorNet,
    LabelEmbedding,
    PairSpec,
    activation,
    has_bias,
    norm_layer,
    projection_head,
    spectral_norm_,
)


class MLPGenerator(GeneratorNet):
    """z [B, z_dim] (+ labels [B]) -> images [B, channels, img_size, img_size] in [-1, 1].

    Args:
        spec: noise, image and labels; when conditional, a label embedding of
            ``embed_dim`` is joined to the noise.
        hidden: widths of the hidden layers, coarse to fine; may be empty.
        norm: norm after each hidden linear layer (batch | layer | none | spectral).
        act: activation after each hidden layer.
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        embed_dim: int,
        hidden: list[int],
        norm: str,
        act: str,
    ):
        super().__init__(spec)
        conditional = self.conditional
        self.embed = LabelEmbedding(spec.num_classes, embed_dim) if conditional else None
        width = spec.z_dim + (embed_dim if conditional else 0)
        layers: list[nn.Module] = []
        for h in hidden:
            # state size: [B, width] -> [B, h]
            layers += [nn.Linear(width, h, bias=has_bias(norm))]
            layers += [norm_layer(norm, h, conv=False), activation(act)]
            width = h
        # state size: [B, width] -> [B, C*H*W], squashed to the data range [-1, 1]
        layers += [nn.Linear(width, spec.channels * spec.img_size**2), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if norm == "spectral":
            spectral_norm_(self.net)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = self.check_noise(z, labels)
        if self.embed is not None:
            z = self.embed(z, labels)
        return self.net(z).view(B, self.channels, self.img_size, self.img_size)


class MLPDiscriminator(DiscriminatorNet):
    """images [B, channels, img_size, img_size] (+ labels [B]) -> logits [B].

    Args:
        spec: noise, image and labels; conditioning none | concat (label embedding
            joined to the flattened image) | projection (class term on the last
            hidden features).
        embed_dim: size of the concatenated label embedding.
        hidden: widths of the hidden layers; may be empty (a linear D).
        norm: norm after each hidden layer but the first (batch | layer | none |
            spectral); spectral acts on every weight, the first included.
        act: activation after each hidden layer.
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        embed_dim: int,
        hidden: list[int],
        norm: str,
        act: str,
    ):
        super().__init__(spec)
        concat = spec.conditioning == "concat"
        self.embed = LabelEmbedding(spec.num_classes, embed_dim) if concat else None
        width = spec.channels * spec.img_size**2 + (embed_dim if concat else 0)
        layers: list[nn.Module] = []
        for i, h in enumerate(hidden):
            # No norm on the first layer, as DCGAN: it would erase the input's scale.
            layer_norm = "none" if i == 0 and norm != "spectral" else norm
            # state size: [B, width] -> [B, h]
            layers += [nn.Linear(width, h, bias=has_bias(layer_norm))]
            layers += [norm_layer(layer_norm, h, conv=False), activation(act)]
            width = h
        self.features = nn.Sequential(*layers)  # phi(x): [B, width]
        self.head = nn.Linear(width, 1)  # psi(phi): [B, 1]
        self.project = projection_head(
            spec.conditioning, features=width, num_classes=spec.num_classes, norm=norm
        )
        if norm == "spectral":
            spectral_norm_(self.features)
            spectral_norm_(self.head)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_images(x, labels)
        h = x.flatten(1)  # [B, C*H*W]; a copy in (C, H, W) order for channels_last inputs
        if self.embed is not None:
            h = self.embed(h, labels)
        phi = self.features(h)
        return self.logits(self.head(phi).squeeze(1), phi, labels)
