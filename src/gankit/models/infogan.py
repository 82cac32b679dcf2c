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
    DiscriminatorNet,
    GeneratorNet,
    LabelEmbedding,
    LabelMaps,
    PairSpec,
    activation,
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


class InfoGANGenerator(GeneratorNet):
    """z [B, z_dim] (+ labels [B]) -> images [B, channels, img_size, img_size] in [-1, 1].

    Args:
        spec: noise (the paper's 64 dimensions), image (side a multiple of 4) and
            labels; when conditional, a label embedding of ``embed_dim`` is joined
            to the noise.
        width: channels of the last hidden map (64); the one before has 2 x width and
            the fully connected layer 16 x width units.
        norm: norm after every hidden layer (batch | layer | none | spectral).
        act: activation of the hidden layers.
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        embed_dim: int,
        width: int,
        norm: str,
        act: str,
    ):
        super().__init__(spec)
        conditional = self.conditional
        self.base = base = check_size(spec.img_size)
        self.embed = LabelEmbedding(spec.num_classes, embed_dim) if conditional else None
        z_in = spec.z_dim + (embed_dim if conditional else 0)
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
            nn.ConvTranspose2d(width, spec.channels, 4, 2, 1),
            nn.Tanh(),
        )
        self._wide = wide
        init_weights_(self, norm)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = self.check_noise(z, labels)
        if self.embed is not None:
            z = self.embed(z, labels)
        h = self.fc(z).view(B, self._wide, self.base, self.base)
        x = self.deconv(h)
        return self.checked_images(x, B)


class InfoGANDiscriminator(DiscriminatorNet):
    """images [B, channels, img_size, img_size] (+ labels [B]) -> logits [B].

    Args:
        spec: noise, image (side a multiple of 4) and labels; conditioning none |
            concat (a learned label map as one extra input channel) | projection
            (class term on the 16 x width features).
        width: channels of the first conv (64); the second has 2 x width, the fully
            connected layer 16 x width units.
        norm: norm of every layer but the first (batch | layer | none | spectral);
            spectral acts on every weight, the first included.
        act: activation of every hidden layer.
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        width: int,
        norm: str,
        act: str,
    ):
        super().__init__(spec)
        base = check_size(spec.img_size)
        concat = spec.conditioning == "concat"
        self.embed = LabelMaps(spec.num_classes, spec.img_size) if concat else None
        hidden, wide, bias = HIDDEN_PER_WIDTH * width, 2 * width, has_bias(norm)
        self.features = nn.Sequential(
            # No norm on the first layer, as DCGAN: it would erase the input's scale.
            # state size: [B, C (+1), img_size, img_size] -> [B, w, img_size/2, img_size/2]
            nn.Conv2d(spec.channels + int(concat), width, 4, 2, 1),
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
            spec.conditioning, features=hidden, num_classes=spec.num_classes, norm=norm
        )
        init_weights_(self, norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_images(x, labels)
        if self.embed is not None:
            x = self.embed(x, labels)
        phi = self.features(x)
        return self.logits(self.head(phi).squeeze(1), phi, labels)
