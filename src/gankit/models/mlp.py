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
    LabelEmbedding,
    activation,
    check_images,
    check_noise,
    has_bias,
    norm_layer,
    projection_head,
    spectral_norm_,
)


class MLPGenerator(nn.Module):
    """z [B, z_dim] (+ labels [B]) -> images [B, channels, img_size, img_size] in [-1, 1].

    Args:
        z_dim: noise dimensions.
        img_size, channels: the output image.
        num_classes: labels in the data (0 = unlabelled); used when conditional.
        conditional: join a label embedding of ``embed_dim`` to the noise.
        hidden: widths of the hidden layers, coarse to fine; may be empty.
        norm: norm after each hidden linear layer (batch | layer | none | spectral).
        act: activation after each hidden layer.
    """

    def __init__(
        self,
        *,
        z_dim: int,
        img_size: int,
        channels: int,
        num_classes: int,
        conditional: bool,
        embed_dim: int,
        hidden: list[int],
        norm: str,
        act: str,
    ):
        super().__init__()
        self.z_dim, self.img_size, self.channels = z_dim, img_size, channels
        self.num_classes, self.conditional = num_classes, conditional
        self.embed = LabelEmbedding(num_classes, embed_dim) if conditional else None
        width = z_dim + (embed_dim if conditional else 0)
        layers: list[nn.Module] = []
        for h in hidden:
            # state size: [B, width] -> [B, h]
            layers += [nn.Linear(width, h, bias=has_bias(norm))]
            layers += [norm_layer(norm, h, conv=False), activation(act)]
            width = h
        # state size: [B, width] -> [B, C*H*W], squashed to the data range [-1, 1]
        layers += [nn.Linear(width, channels * img_size * img_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if norm == "spectral":
            spectral_norm_(self.net)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = check_noise(self, z, labels)
        if self.embed is not None:
            z = self.embed(z, labels)
        return self.net(z).view(B, self.channels, self.img_size, self.img_size)


class MLPDiscriminator(nn.Module):
    """images [B, channels, img_size, img_size] (+ labels [B]) -> logits [B].

    Args:
        z_dim: G's noise dimensions (recorded only; D does not use it).
        img_size, channels: the input image.
        num_classes: labels in the data (0 = unlabelled).
        conditioning: none | concat (label embedding joined to the flattened
            image) | projection (class term on the last hidden features).
        embed_dim: size of the concatenated label embedding.
        hidden: widths of the hidden layers; may be empty (a linear D).
        norm: norm after each hidden layer but the first (batch | layer | none |
            spectral); spectral acts on every weight, the first included.
        act: activation after each hidden layer.
    """

    def __init__(
        self,
        *,
        z_dim: int,
        img_size: int,
        channels: int,
        num_classes: int,
        conditioning: str,
        embed_dim: int,
        hidden: list[int],
        norm: str,
        act: str,
    ):
        super().__init__()
        self.z_dim = z_dim  # D never sees noise: kept so G and D describe the same pair
        self.img_size, self.channels, self.num_classes = img_size, channels, num_classes
        self.conditioning = conditioning
        self.conditional = conditioning != "none"
        concat = conditioning == "concat"
        self.embed = LabelEmbedding(num_classes, embed_dim) if concat else None
        width = channels * img_size * img_size + (embed_dim if concat else 0)
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
            conditioning, features=width, num_classes=num_classes, norm=norm
        )
        if norm == "spectral":
            spectral_norm_(self.features)
            spectral_norm_(self.head)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = check_images(self, x, labels)
        h = x.flatten(1)  # [B, C*H*W]; a copy in (C, H, W) order for channels_last inputs
        if self.embed is not None:
            h = self.embed(h, labels)
        phi = self.features(h)
        logits = self.head(phi).squeeze(1)
        if self.project is not None:
            logits = logits + self.project(phi, labels)
        assert logits.shape == (B,)
        return logits
