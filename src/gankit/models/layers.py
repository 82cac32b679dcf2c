"""Building blocks shared by the model families: norms, activations, label inputs.

Owns the meaning of the ``g_norm``/``d_norm`` and ``g_act``/``d_act`` names, the
DCGAN weight initialisation (Radford et al. 2015, section 4), ``PairSpec`` and the
base classes ``GeneratorNet``/``DiscriminatorNet`` (the attributes every model exposes
and the shape checks at its boundary), the ways labels enter a model (an embedding joined to a
vector, cGAN of Mirza & Osindero 2014; a label map stacked on the image) and the
projection head of the projection discriminator (Miyato & Koyama 2018, "cGANs
with Projection Discriminator", eq. 3). Knows nothing about configs or data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit.registry import Registry

# How labels enter the models: "concat" joins a label embedding to G's noise and
# to D's input; "projection" feeds G the same way and gives D a ProjectionHead.
CONDITIONINGS = ("none", "concat", "projection")

# Norm layers, keyed by config name. Each builder takes (features, conv) where
# `conv` says the input is a feature map [B, C, H, W] rather than a vector [B, C].
NORMS: Registry[Callable[[int, bool], nn.Module]] = Registry("norm")


@NORMS.register("batch")
def _batch(features: int, conv: bool) -> nn.Module:
    return nn.BatchNorm2d(features) if conv else nn.BatchNorm1d(features)


@NORMS.register("layer")
def _layer(features: int, conv: bool) -> nn.Module:
    # GroupNorm with one group normalises each sample over (C, H, W): layer norm
    # for feature maps, with a per-channel affine like BatchNorm2d's.
    return nn.GroupNorm(1, features) if conv else nn.LayerNorm(features)


@NORMS.register("none")
def _none(features: int, conv: bool) -> nn.Module:
    return nn.Identity()


@NORMS.register("spectral")
def _spectral(features: int, conv: bool) -> nn.Module:
    # Spectral norm acts on the weights (see spectral_norm_), not on activations.
    return nn.Identity()


def norm_layer(kind: str, features: int, *, conv: bool) -> nn.Module:
    """The normalisation layer ``kind`` for ``features`` channels (Identity for none/spectral)."""
    return NORMS.get(kind)(features, conv)


def has_bias(kind: str) -> bool:
    """Whether a conv/linear layer followed by norm ``kind`` needs its own bias.

    Batch norm subtracts the per-channel mean, so a bias before it is dead weight
    (pytorch/examples dcgan uses bias=False there). Layer norm does not remove a
    per-channel offset, so those layers keep theirs.
    """
    return kind != "batch"


ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")

# In-place is safe here: every activation follows a conv, linear or norm layer,
# none of which needs its output for the backward pass.
ACTIVATIONS.register("relu")(lambda: nn.ReLU(inplace=True))
# Slope 0.2 as in DCGAN's discriminator.
ACTIVATIONS.register("leaky_relu")(lambda: nn.LeakyReLU(0.2, inplace=True))


def activation(name: str) -> nn.Module:
    """A fresh activation module for config name ``name``."""
    return ACTIVATIONS.get(name)()


_WEIGHT_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def dcgan_init_(net: nn.Module) -> nn.Module:
    """DCGAN initialisation in place: conv/linear weights N(0, 0.02), biases 0,
    batch-norm scales N(1, 0.02) and shifts 0. Embeddings and layer norms keep
    PyTorch's defaults.

    Apply before ``spectral_norm_``, which estimates the spectral norm of the
    weights as they are when it is applied.
    """
    for m in net.modules():
        if isinstance(m, _WEIGHT_LAYERS):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net


def init_weights_(net: nn.Module, norm: str) -> None:
    """DCGAN init of ``net``, then spectral norm on its weights when ``norm`` asks for it."""
    # Init first: spectral norm estimates sigma from the weights it is given.
    dcgan_init_(net)
    if norm == "spectral":
        spectral_norm_(net)


def spectral_norm_(net: nn.Module) -> nn.Module:
    """Puts spectral normalisation (Miyato et al. 2018) on every conv and linear
    weight of ``net`` in place; label embeddings other than the projection's are
    left alone, so G's label signal keeps its scale next to the noise."""
    for m in list(net.modules()):
        if isinstance(m, _WEIGHT_LAYERS):
            spectral_norm(m)
    return net


class ProjectionHead(nn.Module):
    """The class term of the projection discriminator: ``<embed(y), phi(x)>``.

    The full logit is ``psi(phi) + <embed(y), phi>`` (Miyato & Koyama 2018,
    eq. 3); the model family owns the unconditional term ``psi``, a linear map
    of ``phi``, so its layer layout is the same with or without labels.

    Args:
        features: dimension of ``phi``.
        num_classes: number of labels.
        spectral: spectral-normalise the embedding (as the paper does with SN).
    """

    def __init__(self, *, features: int, num_classes: int, spectral: bool):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        # Xavier-uniform as in the authors' code: N(0, 1) rows would give a class
        # term sqrt(features) times larger than psi at the start.
        nn.init.xavier_uniform_(self.embed.weight)
        if spectral:
            spectral_norm(self.embed)

    def forward(self, phi: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # phi: [B, F], labels: [B] -> [B]
        return (self.embed(labels) * phi).sum(dim=1)


def projection_head(
    conditioning: str, *, features: int, num_classes: int, norm: str
) -> ProjectionHead | None:
    """D's ``ProjectionHead`` on ``features``-wide phi under projection conditioning, else
    None; spectral-normalised along with the rest of D."""
    if conditioning != "projection":
        return None
    return ProjectionHead(features=features, num_classes=num_classes, spectral=norm == "spectral")


class LabelEmbedding(nn.Embedding):
    """A learned vector per label joined to a vector input (cGAN, Mirza & Osindero 2014):
    ``h [B, F], labels [B] -> [B, F + embedding_dim]``.

    A subclass of ``nn.Embedding``, not a wrapper, so that its one parameter keeps
    the name ``embed.weight`` that saved checkpoints use.
    """

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.cat([h, super().forward(labels)], dim=1)


class LabelMaps(nn.Embedding):
    """One learned ``img_size`` x ``img_size`` map per label, stacked on the image as an
    extra channel: ``x [B, C, H, W], labels [B] -> [B, C + 1, H, W]``.

    Args:
        num_classes: number of labels.
        img_size: side of the images the maps join.
    """

    def __init__(self, num_classes: int, img_size: int):
        super().__init__(num_classes, img_size * img_size)
        self.img_size = img_size

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_map = super().forward(labels).view(x.shape[0], 1, self.img_size, self.img_size)
        # The maps are float32; under autocast the image may be bf16.
        return torch.cat([x, label_map.to(x.dtype)], dim=1)


@dataclass(frozen=True)
class PairSpec:
    """What a G/D pair works with: the integers every family's constructor takes first.

    Args:
        z_dim: G's noise dimensions (D records it so that both describe the same pair).
        img_size: side of the square images, in pixels.
        channels: image channels.
        num_classes: labels in the data (0 = unlabelled).
        conditioning: how labels enter (see ``CONDITIONINGS``); none = unconditional.
    """

    z_dim: int
    img_size: int
    channels: int
    num_classes: int
    conditioning: str

    @property
    def image(self) -> tuple[int, int, int]:
        """``(channels, img_size, img_size)``: one image, batch left out."""
        return self.channels, self.img_size, self.img_size


class _PairNet(nn.Module):
    """The attributes every G and D exposes (``z_dim``, ``img_size``, ``channels``,
    ``num_classes``, ``conditioning``, ``conditional``) and the shape checks at their
    boundaries. Creates no parameters, so state-dict names and seeded initial weights
    stay the families' own."""

    def __init__(self, spec: PairSpec):
        super().__init__()
        self.z_dim, self.img_size, self.channels = spec.z_dim, spec.img_size, spec.channels
        self.num_classes, self.conditioning = spec.num_classes, spec.conditioning
        self.conditional = spec.conditioning != "none"

    def _check_images(self, x: torch.Tensor, batch: int) -> None:
        expected = (batch, self.channels, self.img_size, self.img_size)
        assert x.shape == expected, f"images: expected {list(expected)}, got {list(x.shape)}"

    def _check_labels(self, labels: torch.Tensor | None, batch: int) -> None:
        # An unconditional net ignores whatever labels it is given.
        if self.conditional:
            assert labels is not None and labels.shape == (batch,), (
                "conditional nets need labels [B]"
            )


class GeneratorNet(_PairNet):
    """Base of every generator: z [B, z_dim] (+ labels [B]) -> images [B, C, H, W]."""

    def check_noise(self, z: torch.Tensor, labels: torch.Tensor | None) -> int:
        """Asserts G's inputs: ``z [B, z_dim]`` and, when conditional, ``labels [B]``.
        Returns B."""
        B = z.shape[0]
        assert z.shape == (B, self.z_dim), f"z: expected [B, {self.z_dim}], got {list(z.shape)}"
        self._check_labels(labels, B)
        return B

    def checked_images(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """``x``, asserted to be ``[batch, channels, img_size, img_size]``."""
        self._check_images(x, batch)
        return x


class DiscriminatorNet(_PairNet):
    """Base of every discriminator: images [B, C, H, W] (+ labels [B]) -> logits [B].

    A family that calls ``logits`` sets ``self.project`` (a ``ProjectionHead`` or None).
    """

    def check_images(self, x: torch.Tensor, labels: torch.Tensor | None) -> int:
        """Asserts D's inputs: ``x [B, channels, img_size, img_size]`` and, when
        conditional, ``labels [B]``. Returns B."""
        B = x.shape[0]
        self._check_images(x, B)
        self._check_labels(labels, B)
        return B

    def logits(
        self, psi: torch.Tensor, phi: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """``psi [B]`` plus, under projection conditioning, the class term of ``phi
        [B, F]`` (Miyato & Koyama 2018, eq. 3); asserted to be ``[B]``."""
        if self.project is not None:
            psi = psi + self.project(phi, labels)
        assert psi.shape == (phi.shape[0],), f"logits: expected [B], got {list(psi.shape)}"
        return psi


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose per-channel gain and bias are looked up per label (de Vries et
    al. 2017; the class-conditional G of Miyato & Koyama 2018 and BigGAN):
    ``x [B, C, H, W], labels [B] -> [B, C, H, W]``.

    The gains start at 1 and the biases at 0, so at init it is plain batch norm and
    the labels enter as training pulls the rows apart.

    Args:
        features: channels C.
        num_classes: number of labels.
    """

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(features, affine=False)
        self.gain = nn.Embedding(num_classes, features)
        self.bias = nn.Embedding(num_classes, features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # [B, C] -> [B, C, 1, 1], cast so that bf16 maps stay bf16 under autocast.
        gain = self.gain(labels)[:, :, None, None].to(x.dtype)
        bias = self.bias(labels)[:, :, None, None].to(x.dtype)
        return self.norm(x) * gain + bias
