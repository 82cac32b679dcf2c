"""The InfoGAN-style networks of Lucic et al. (2018), "Are GANs Created Equal?", for
28 px images (after Chen et al. 2016, "InfoGAN", without its Q head).

Owns ``InfoGANGenerator`` and ``InfoGANDiscriminator``. At ``width`` 64, 28 px and
one channel they are layer for layer the paper's (its Table 5, and compare_gan's
``infogan`` architecture):

    G: z -> FC 1024, BN, ReLU -> FC 7*7*128, BN, ReLU -> deconv 64 4x4 s2, BN, ReLU
         -> deconv C 4x4 s2 -> tanh
    D: conv 64 4x4 s2, lReLU -> conv 128 4x4 s2, BN, lReLU -> FC 1024, BN, lReLU -> FC 1

Widths scale with ``width`` (1024 = 16 x width, 128 = 2 x width); any side that is a
multiple of 4 works (the maps are side/4 and side/2). G ends in tanh, as every gankit
generator (the paper's G ends in a sigmoid on [0, 1] data). Labels enter as in
``dcgan``: an embedding joined to the noise, and for D a learned label map stacked
on the image (concat) or a projection head on the 1024 features. Weights start
N(0, 0.02) as compare_gan's.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.models.layers import (
    LabelEmbedding,
    LabelMaps,
    activation,
    check_images,
    check_noise,
    has_bias,
    init_weights_,
    norm_layer,
    projection_head,
)

HIDDEN_PER_WIDTH = 16  # the fully connected layer: 1024 units at width 64


def check_size(img_size: int) -> int:
    """The side of the coarsest map (img_size / 4), or a one-line error."""
    if img_size < 8 or img_size % 4:
        hint = max(8, round(img_size / 4) * 4)
        raise GankitError(
            f"infogan makes images whose side is a multiple of 4 (28 for Fashion-MNIST) - "
            f"got {img_size}, use --img-size {hint}"
        )
    return img_size // 4


class InfoGANGenerator(nn.Module):
    """z [B, z_dim] (+ labels [B]) -> images [B, channels, img_size, img_size] in [-1, 1].

    Args:
        z_dim: noise dimensions (the paper's 64).
        img_size: output side, a multiple of 4.
        channels: output channels.
        num_classes: labels in the data (0 = unlabelled); used when conditional.
        conditional: join a label embedding of ``embed_dim`` to the noise.
        width: channels of the last hidden map (64); the one before has 2 x width and
            the fully connected layer 16 x width units.
        norm: norm after every hidden layer (batch | layer | none | spectral).
        act: activation of the hidden layers.
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
        width: int,
        norm: str,
        act: str,
    ):
        super().__init__()
        self.z_dim, self.img_size, self.channels = z_dim, img_size, channels
        self.num_classes, self.conditional = num_classes, conditional
        self.base = base = check_size(img_size)
        self.embed = LabelEmbedding(num_classes, embed_dim) if conditional else None
        z_in = z_dim + (embed_dim if conditional else 0)
        hidden, wide, bias = HIDDEN_PER_WIDTH * width, 2 * width, has_bias(norm)
        # state size: [B, z_in] -> [B, 16w] -> [B, 2w * base * base]
        self.fc = nn.Sequential(
            nn.Linear(z_in, hidden, bias=bias),
            norm_layer(norm, hidden, conv=False),
            activation(act),
            nn.Linear(hidden, wide * base * base, bias=bias),
            norm_layer(norm, wide * base * base, conv=False),
            activation(act),
        )
        # state size: [B, 2w, base, base] -> [B, w, 2 base, 2 base] -> [B, C, img_size, img_size]
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(wide, width, 4, 2, 1, bias=bias),
            norm_layer(norm, width, conv=True),
            activation(act),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
        )
        self._wide = wide
        init_weights_(self, norm)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = check_noise(self, z, labels)
        if self.embed is not None:
            z = self.embed(z, labels)
        h = self.fc(z).view(B, self._wide, self.base, self.base)
        x = self.deconv(h)
        assert x.shape == (B, self.channels, self.img_size, self.img_size)
        return x


class InfoGANDiscriminator(nn.Module):
    """images [B, channels, img_size, img_size] (+ labels [B]) -> logits [B].

    Args:
        z_dim: G's noise dimensions (recorded only; D does not use it).
        img_size: input side, a multiple of 4.
        channels: input channels.
        num_classes: labels in the data (0 = unlabelled).
        conditioning: none | concat (a learned label map as one extra input channel)
            | projection (class term on the 16 x width features).
        width: channels of the first conv (64); the second has 2 x width, the fully
            connected layer 16 x width units.
        norm: norm of every layer but the first (batch | layer | none | spectral);
            spectral acts on every weight, the first included.
        act: activation of every hidden layer.
    """

    def __init__(
        self,
        *,
        z_dim: int,
        img_size: int,
        channels: int,
        num_classes: int,
        conditioning: str,
        width: int,
        norm: str,
        act: str,
    ):
        super().__init__()
        self.z_dim = z_dim  # D never sees noise: kept so G and D describe the same pair
        self.img_size, self.channels, self.num_classes = img_size, channels, num_classes
        self.conditioning = conditioning
        self.conditional = conditioning != "none"
        base = check_size(img_size)
        concat = conditioning == "concat"
        self.embed = LabelMaps(num_classes, img_size) if concat else None
        hidden, wide, bias = HIDDEN_PER_WIDTH * width, 2 * width, has_bias(norm)
        self.features = nn.Sequential(
            # No norm on the first layer, as DCGAN: it would erase the input's scale.
            # state size: [B, C (+1), img_size, img_size] -> [B, w, img_size/2, img_size/2]
            nn.Conv2d(channels + int(concat), width, 4, 2, 1),
            activation(act),
            # state size: -> [B, 2w, base, base]
            nn.Conv2d(width, wide, 4, 2, 1, bias=bias),
            norm_layer(norm, wide, conv=True),
            activation(act),
            nn.Flatten(),
            # state size: [B, 2w * base * base] -> [B, 16w]
            nn.Linear(wide * base * base, hidden, bias=bias),
            norm_layer(norm, hidden, conv=False),
            activation(act),
        )  # phi(x)
        self.head = nn.Linear(hidden, 1)  # psi(phi): [B, 1]
        self.project = projection_head(
            conditioning, features=hidden, num_classes=num_classes, norm=norm
        )
        init_weights_(self, norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = check_images(self, x, labels)
        if self.embed is not None:
            x = self.embed(x, labels)
        phi = self.features(x)
        logits = self.head(phi).squeeze(1)
        if self.project is not None:
            logits = logits + self.project(phi, labels)
        assert logits.shape == (B,)
        return logits
