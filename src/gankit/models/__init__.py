"""The generator and discriminator families, and the one way to build them.

Owns ``MODELS`` (arch name -> builder: a ``Family`` table entry, or a function where a
family needs more) and ``build_models``, which checks a ``ModelConfig`` against the
data (size, channels, labels) and turns it into integers for the model classes. The
contract every family keeps:

- ``G(z [B, z_dim], labels [B] | None) -> [B, channels, img_size, img_size]`` in
  [-1, 1] (tanh);
- ``D(x [B, channels, img_size, img_size], labels [B] | None) -> logits [B]``,
  no sigmoid (the objectives in ``gankit.losses`` work on logits);
- both expose ``z_dim``, ``img_size``, ``channels``, ``num_classes``,
  ``conditioning`` and ``conditional`` (held by ``GeneratorNet``/``DiscriminatorNet``
  in ``gankit.models.layers``); an unconditional model ignores the labels it is given.

Families: ``mlp`` (Goodfellow et al. 2014), ``dcgan`` (Radford et al. 2015),
``infogan`` (the 28 px networks of Lucic et al. 2018) and ``resnet`` (SNGAN, Miyato
et al. 2018); conditioning ``concat`` (Mirza & Osindero 2014) or ``projection``
(Miyato & Koyama 2018); ``keras`` (layer lists as Keras prints them, the networks of
seed 003). ``describe`` gives any pair's parameters and FLOPs, ``layer_tables`` its
layers in the form of Keras' ``model.summary()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.models.infogan import InfoGANDiscriminator, InfoGANGenerator
from gankit.models.layer_table import layer_tables
from gankit.models.layers import ACTIVATIONS, CONDITIONINGS, NORMS, PairSpec
from gankit.models.mlp import MLPDiscriminator, MLPGenerator
from gankit.models.resnet import ResNetDiscriminator, ResNetGenerator, check_norms
from gankit.models.sequential import KerasDiscriminator, KerasGenerator, NetOptions
from gankit.models.summary import describe
from gankit.registry import Registry, unknown_name_message

Builder = Callable[..., tuple[nn.Module, nn.Module]]
MODELS: Registry[Builder] = Registry("model")

__all__ = ["MODELS", "build_models", "describe", "layer_tables"]


@dataclass(frozen=True)
class Family:
    """A builder that passes each net the ``ModelConfig`` fields its constructor names.

    An option ``width`` reads ``g_width`` for G and ``d_width`` for D where the config
    has such a pair, else the shared field (``embed_dim``, ``max_width``).

    Args:
        generator, discriminator: the family's classes.
        g_options, d_options: the keyword arguments each takes after ``spec``.
        check: one-line errors for settings the family does not take, or None.
    """

    generator: Callable[..., nn.Module]
    discriminator: Callable[..., nn.Module]
    g_options: tuple[str, ...]
    d_options: tuple[str, ...]
    check: Callable[[ModelConfig], None] | None = None

    def __call__(
        self, cfg: ModelConfig, *, img_size: int, channels: int, num_classes: int
    ) -> tuple[nn.Module, nn.Module]:
        if self.check is not None:
            self.check(cfg)
        spec = _spec(cfg, img_size=img_size, channels=channels, num_classes=num_classes)
        # G before D: under torch.manual_seed the creation order fixes the initial weights.
        G = self.generator(spec=spec, **_options(cfg, "g", self.g_options))
        D = self.discriminator(spec=spec, **_options(cfg, "d", self.d_options))
        return G, D


def _spec(cfg: ModelConfig, *, img_size: int, channels: int, num_classes: int) -> PairSpec:
    return PairSpec(
        z_dim=cfg.z_dim,
        img_size=img_size,
        channels=channels,
        num_classes=num_classes,
        conditioning=cfg.conditioning,
    )


def _options(cfg: ModelConfig, net: str, names: tuple[str, ...]) -> dict[str, object]:
    options = {}
    for name in names:
        own = f"{net}_{name}"
        value = getattr(cfg, own if hasattr(cfg, own) else name)
        # A copy, so that a net never shares a list with the config it came from.
        options[name] = list(value) if isinstance(value, list) else value
    return options


def _check_resnet(cfg: ModelConfig) -> None:
    check_norms(cfg.g_norm, cfg.d_norm, conditional=cfg.conditioning != "none")


# Fully connected G and D (PyTorch default init, see ``gankit.models.mlp``).
MODELS.register("mlp")(
    Family(
        MLPGenerator,
        MLPDiscriminator,
        g_options=("embed_dim", "hidden", "norm", "act"),
        d_options=("embed_dim", "hidden", "norm", "act"),
    )
)
# Convolutional G and D with DCGAN init (see ``gankit.models.dcgan``).
MODELS.register("dcgan")(
    Family(
        DCGANGenerator,
        DCGANDiscriminator,
        g_options=("embed_dim", "width", "max_width", "norm", "act"),
        d_options=("width", "max_width", "norm", "act"),
    )
)
# Lucic et al.'s InfoGAN-style G and D (see ``gankit.models.infogan``); widths from
# g_width/d_width (64 = the paper's), max_width unused.
MODELS.register("infogan")(
    Family(
        InfoGANGenerator,
        InfoGANDiscriminator,
        g_options=("embed_dim", "width", "norm", "act"),
        d_options=("width", "norm", "act"),
    )
)
# Residual G and D of SNGAN (see ``gankit.models.resnet``); widths from g_width/d_width
# capped by max_width; g_act/d_act unused (ReLU).
MODELS.register("resnet")(
    Family(
        ResNetGenerator,
        ResNetDiscriminator,
        g_options=("width", "max_width", "norm"),
        d_options=("width", "max_width", "norm"),
        check=_check_resnet,
    )
)


@MODELS.register("keras")
def build_keras(
    cfg: ModelConfig, *, img_size: int, channels: int, num_classes: int
) -> tuple[nn.Module, nn.Module]:
    """G and D from the layer lists ``g_layers``/``d_layers`` (see ``gankit.models.sequential``);
    ``g_width``/``d_width``/``max_width``/``*_hidden``/``*_act`` unused."""
    if cfg.conditioning != "none":
        raise GankitError("--arch keras takes no labels - use --conditioning none")
    for option in ("g_layers", "d_layers"):
        if not getattr(cfg, option):
            raise GankitError(
                f"--arch keras needs --{_flag(option)} - start from a preset such as mnist-dcgan"
            )
    for option in ("g_dropout", "d_dropout"):
        rate = getattr(cfg, option)
        if not 0 <= rate < 1:
            raise GankitError(f"--{_flag(option)} must be in [0, 1) - got {rate}")
    if not 0 <= cfg.bn_momentum < 1:
        raise GankitError(f"--bn-momentum must be in [0, 1) - got {cfg.bn_momentum}")
    for option in ("g_kernel", "d_kernel"):
        if getattr(cfg, option) < 1:
            raise GankitError(f"--{_flag(option)} must be at least 1 - got {getattr(cfg, option)}")
    spec = _spec(cfg, img_size=img_size, channels=channels, num_classes=num_classes)
    nets = []
    for net, cls in (("g", KerasGenerator), ("d", KerasDiscriminator)):
        options = NetOptions(
            flag=f"{net}-layers",
            image=spec.image,
            kernel=getattr(cfg, f"{net}_kernel"),
            dropout=getattr(cfg, f"{net}_dropout"),
            slope=getattr(cfg, f"{net}_slope"),
            norm=getattr(cfg, f"{net}_norm"),
            bn_momentum=cfg.bn_momentum,
        )
        layers = list(getattr(cfg, f"{net}_layers"))
        nets.append(cls(spec=spec, layers=layers, options=options))
    return nets[0], nets[1]


def build_models(
    cfg: ModelConfig, *, img_size: int, channels: int, num_classes: int
) -> tuple[nn.Module, nn.Module]:
    """Builds ``(G, D)`` for images of ``channels`` x ``img_size`` x ``img_size``.

    Args:
        cfg: the model section of the experiment config.
        img_size: side of the square images, in pixels.
        channels: image channels (1 grey, 3 RGB, any other count works).
        num_classes: labels in the data; 0 means unlabelled.

    Raises:
        GankitError: a name in ``cfg`` is unknown, a size is not positive, the
            family cannot make ``img_size`` images, or conditioning is asked for
            without labels.
    """
    _check_name("arch", cfg.arch, MODELS.names(), kind="model")
    _check_name("conditioning", cfg.conditioning, list(CONDITIONINGS))
    for option in ("g_norm", "d_norm"):
        _check_name(option, getattr(cfg, option), NORMS.names(), kind="norm")
    for option in ("g_act", "d_act"):
        _check_name(option, getattr(cfg, option), ACTIVATIONS.names(), kind="activation")
    sizes = {
        "img_size": img_size,
        "channels": channels,
        "z_dim": cfg.z_dim,
        "g_width": cfg.g_width,
        "d_width": cfg.d_width,
        "max_width": cfg.max_width,
    }
    if cfg.conditioning != "none":
        sizes["embed_dim"] = cfg.embed_dim
    for option, value in sizes.items():
        if value < 1:
            raise GankitError(f"--{_flag(option)} must be at least 1 - got {value}")
    for option in ("g_hidden", "d_hidden"):
        bad = [h for h in getattr(cfg, option) if h < 1]
        if bad:
            raise GankitError(f"--{_flag(option)}: layer widths must be at least 1 - got {bad[0]}")
    if num_classes < 0:
        raise GankitError(f"num_classes must be 0 (unlabelled) or more - got {num_classes}")
    if cfg.conditioning != "none" and num_classes == 0:
        raise GankitError(
            f"--conditioning {cfg.conditioning} needs labelled data"
            " - use --conditioning none or a labelled dataset"
        )
    return MODELS.get(cfg.arch)(cfg, img_size=img_size, channels=channels, num_classes=num_classes)


def _flag(option: str) -> str:
    return option.replace("_", "-")


def _check_name(option: str, value: str, valid: list[str], kind: str | None = None) -> None:
    if value not in valid:
        raise GankitError(
            f"--{_flag(option)}: {unknown_name_message(kind or option, value, valid)}"
        )
