"""The deep convolutional GAN (Radford, Metz & Chintala 2015, "Unsupervised
Representation Learning with Deep Convolutional GANs").

Owns ``DCGANGenerator``, ``DCGANDiscriminator`` and the size layout they share.
At 64 px with widths 64 the pair is layer for layer pytorch/examples' dcgan
(netG, and netD without its final sigmoid); at 28 px it starts from 7x7 as the
MNIST DCGANs of seeds 002/003. Labels enter as in the cGAN tutorials of seeds
000/001 (an embedding joined to the noise, and one extra input channel for D)
or through a projection head in D (Miyato & Koyama 2018).

Convs followed by batch norm have no bias (the norm removes it); all others do.
"""

from __future__ import annotations

import itertools

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

COMMON_SIZES = (28, 32, 64, 128)


def layout(img_size: int) -> tuple[int, int]:
    """``(base, n)``: the side of the coarsest map and the number of 2x stages.

    Sizes 4*2^k grow from 4x4 (DCGAN), sizes 7*2^k from 7x7 (the 28 px MNIST
    layout); at least one stage, so 8 and 14 px are the smallest.
    """
    for base in (4, 7):
        n = 0
        while base << n < img_size:
            n += 1
        if n >= 1 and base << n == img_size:
            return base, n
    hint = next((s for s in COMMON_SIZES if s >= img_size), COMMON_SIZES[-1])
    raise GankitError(
        f"dcgan makes 4*2^k or 7*2^k px images ({', '.join(map(str, COMMON_SIZES))})"
        f" - got {img_size}, use --img-size {hint}"
    )


class DCGANGenerator(GeneratorNet):
    """z [B, z_dim] (+ labels [B]) -> images [B, channels, img_size, img_size] in [-1, 1].

    Args:
        spec: noise, image (side 4*2^k or 7*2^k, see ``layout``) and labels; when
            conditional, a label embedding of ``embed_dim`` is joined to the noise.
        width: channels of the finest hidden stage; doubles per coarser stage.
        max_width: cap on channels per stage.
        norm: batch | layer | none | spectral.
        act: activation of the hidden stages.
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        embed_dim: int,
        width: int,
        max_width: int,
        norm: str,
        act: str,
    ):
        super().__init__(spec)
        conditional = self.conditional
        base, n = layout(spec.img_size)
        self.embed = LabelEmbedding(spec.num_classes, embed_dim) if conditional else None
        z_in = spec.z_dim + (embed_dim if conditional else 0)
        # Hidden stage i (0 = coarsest, base x base) has width * 2^(n-1-i) channels.
        widths = [min(width << (n - 1 - i), max_width) for i in range(n)]
        bias = has_bias(norm)
        # state size: [B, z_in, 1, 1] -> [B, widths[0], base, base]
        layers = [nn.ConvTranspose2d(z_in, widths[0], base, 1, 0, bias=bias)]
        layers += [norm_layer(norm, widths[0], conv=True), activation(act)]
        for c_in, c_out in itertools.pairwise(widths):
            # state size: [B, c_in, s, s] -> [B, c_out, 2s, 2s]
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]
            layers += [norm_layer(norm, c_out, conv=True), activation(act)]
        # state size: [B, width, img_size/2, img_size/2] -> [B, channels, img_size, img_size]
        layers += [nn.ConvTranspose2d(widths[-1], spec.channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights_(self, norm)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = self.check_noise(z, labels)
        if self.embed is not None:
            z = self.embed(z, labels)
        x = self.net(z[:, :, None, None])
        return self.checked_images(x, B)


class DCGANDiscriminator(DiscriminatorNet):
    """images [B, channels, img_size, img_size] (+ labels [B]) -> logits [B].

    Args:
        spec: noise, image (side 4*2^k or 7*2^k, see ``layout``) and labels;
            conditioning none | concat (a learned label map as one extra input
            channel) | projection (class term on the final base x base map).
        width: channels of the first stage; doubles per stage.
        max_width: cap on channels per stage.
        norm: norm of every stage but the first (batch | layer | none |
            spectral); spectral acts on every weight, the first included.
        act: activation of every stage.
    """

    def __init__(
        self,
        *,
        spec: PairSpec,
        width: int,
        max_width: int,
        norm: str,
        act: str,
    ):
        super().__init__(spec)
        base, n = layout(spec.img_size)
        concat = spec.conditioning == "concat"
        self.embed = LabelMaps(spec.num_classes, spec.img_size) if concat else None
        # Stage j (at img_size / 2^(j+1)) has width * 2^j channels.
        widths = [min(width << j, max_width) for j in range(n)]
        # No norm on the first layer, as DCGAN: it would erase the input's scale.
        # state size: [B, channels (+1), img_size, img_size] -> [B, width, img_size/2, ...]
        layers = [nn.Conv2d(spec.channels + int(concat), widths[0], 4, 2, 1), activation(act)]
        bias = has_bias(norm)
        for c_in, c_out in itertools.pairwise(widths):
            # state size: [B, c_in, s, s] -> [B, c_out, s/2, s/2]
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias)]
            layers += [norm_layer(norm, c_out, conv=True), activation(act)]
        self.features = nn.Sequential(*layers)  # phi(x): [B, widths[-1], base, base]
        # psi(phi), a linear map of the whole base x base map: [B, 1, 1, 1]
        self.head = nn.Conv2d(widths[-1], 1, base, 1, 0)
        self.project = projection_head(
            spec.conditioning,
            features=widths[-1] * base * base,
            num_classes=spec.num_classes,
            norm=norm,
        )
        init_weights_(self, norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = self.check_images(x, labels)
        if self.embed is not None:
            x = self.embed(x, labels)
        phi = self.features(x)
        return self.logits(self.head(phi).reshape(B), phi.flatten(1), labels)
