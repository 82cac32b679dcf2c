"""Named experiments as values: one preset per experiment of the source documents.

Each preset is a complete ``Config`` built from the defaults with the settings
of the experiment it reproduces; ``source`` names where they come from (000-004:
the documents ``gankit reproduce --list`` shows, catalogued in
``gankit.reproduce.catalog``; lucic: Lucic et al. 2018, "Are GANs Created
Equal?"). ``fashion`` is gankit's own default, chosen for the best
Fashion-MNIST images per minute of training. Any field can still be overridden
on the command line. A preset's one-line summary is written from its config,
so it cannot disagree with it; only what the values cannot say is typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gankit.config import (
    Config,
    DataConfig,
    LogConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    to_dict,
)
from gankit.config_summary import describe
from gankit.registry import Registry


@dataclass(frozen=True)
class Preset:
    name: str
    source: str  # which document (and experiment) it reproduces
    note: str  # what the values cannot say (whose recipe, which images); may be ''
    config: Config

    @property
    def summary(self) -> str:
        """One line for ``gankit presets``: the settings, then the note."""
        return describe(self.config) + (f" - {self.note}" if self.note else "")


PRESETS: Registry[Preset] = Registry("preset")


def _add(name: str, source: str, note: str, **sections) -> None:
    cfg = from_dict(to_dict(replace(Config(preset=name), **sections)))  # checks every type
    PRESETS.register(name)(Preset(name, source, note, cfg))


def get_preset(name: str) -> Config:
    return PRESETS.get(name).config


# Building blocks -----------------------------------------------------------
FASHION = DataConfig(dataset="fashion-mnist")
MNIST = DataConfig(dataset="mnist")
SHAPES = DataConfig(dataset="shapes", img_size=64)
FOLDER_64 = DataConfig(dataset="", img_size=64, channels=3, use_labels=False)

DCGAN = ModelConfig(arch="dcgan", g_width=64, d_width=64)

NS = LossConfig(loss="ns")
WGAN = LossConfig(loss="wgan", clip_value=0.01)
WGAN_GP = LossConfig(loss="wgan-gp", gp_weight=10.0)

ADAM_DCGAN = TrainConfig(lr_g=2e-4, lr_d=2e-4, beta1_g=0.5, beta1_d=0.5)
RMSPROP_WGAN = TrainConfig(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5)
ADAM_WGAN_GP = TrainConfig(
    lr_g=1e-4, lr_d=1e-4, beta1_g=0.0, beta2_g=0.9, beta1_d=0.0, beta2_d=0.9, n_critic=5
)

# gankit's default ------------------------------------------------------------
FASHION_MODEL = ModelConfig(
    arch="dcgan",
    conditioning="projection",
    g_width=32,
    d_width=32,
    g_norm="batch",
    d_norm="spectral",
    embed_dim=32,
)
# The two time-scale rates came from `gankit tune` and won the 5-minute ablation
# (FID-2k 29.8 against 80 with 2e-4 for both nets; README "Ablation").
FASHION_TRAIN = TrainConfig(
    epochs=20,
    batch_size=64,
    lr_g=3e-4,
    lr_d=1.3e-3,
    beta1_g=0.0,
    beta2_g=0.9,
    beta1_d=0.0,
    beta2_d=0.9,
    ema_halflife_images=10_000,
)
_add(
    "fashion",
    "gankit",
    "gankit's default: the best Fashion-MNIST images per minute",
    data=FASHION,
    model=FASHION_MODEL,
    loss=LossConfig(loss="hinge"),
    train=FASHION_TRAIN,
    log=LogConfig(sample_every=500, checkpoint_every=2000),
)
# `fashion` at twice the width, for long runs: at 5 minutes the width loses (fewer than
# half the steps), at 90 it buys capacity. The length is the steps a 90-minute run of it
# reached on the 2-core CPU (README "Quality after 90 CPU minutes").
_add(
    "fashion-best",
    "gankit",
    "gankit's long run: Fashion-MNIST for 90 CPU minutes",
    data=FASHION,
    model=replace(FASHION_MODEL, g_width=64, d_width=64),
    loss=LossConfig(loss="hinge"),
    train=replace(FASHION_TRAIN, steps=58_899),
    log=LogConfig(sample_every=1000, checkpoint_every=5000),
)

# 000: four models on Fashion-MNIST ------------------------------------------
_add(
    "fashion-gan",
    "000",
    "",
    data=FASHION,
    model=ModelConfig(
        arch="mlp", g_hidden=[256, 512, 1024], d_hidden=[512, 256], g_norm="none", d_norm="none"
    ),
    loss=NS,
    train=replace(ADAM_DCGAN, lr_g=2e-3, lr_d=2e-3, batch_size=256, epochs=100),
)
_add(
    "fashion-cgan",
    "000",
    "",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat"),
    loss=NS,
    train=replace(ADAM_DCGAN, batch_size=256, epochs=100),
)
_add(
    "fashion-wgan",
    "000",
    "",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat"),
    loss=WGAN,
    train=replace(RMSPROP_WGAN, batch_size=256, epochs=100),
)
_add(
    "fashion-wgan-gp",
    "000",
    "the document resumes it for 50 more epochs",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat", d_norm="layer"),
    loss=WGAN_GP,
    train=replace(ADAM_WGAN_GP, batch_size=64, epochs=200),
)

# 001: the slow conditional GAN with evaluation --------------------------------
_add(
    "fashion-cgan-slow",
    "001",
    "the slow conditional GAN, evaluated as it trains",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat"),
    loss=NS,
    train=replace(ADAM_DCGAN, lr_g=1e-4, lr_d=1e-4, batch_size=128, epochs=200),
)

# 002: DCGAN on Fashion-MNIST and abstract art --------------------------------
_add(
    "fashion-dcgan",
    "002",
    "Radford et al.'s recipe",
    data=FASHION,
    model=DCGAN,
    loss=NS,
    train=replace(ADAM_DCGAN, batch_size=128, epochs=50),
    log=LogConfig(sample_every=0, sample_every_epochs=1),
)
_add(
    "art-dcgan-128",
    "002",
    "abstract art",
    data=replace(FOLDER_64, img_size=128, hflip=True, vflip=True),
    model=DCGAN,
    loss=NS,
    train=replace(ADAM_DCGAN, batch_size=128, epochs=200),
    log=LogConfig(sample_every=0, sample_every_epochs=1),
)


# 003: four models on three datasets, by iterations ---------------------------
# Its networks are Keras models, written as the layer lists of its Figures 4-1 to
# 4-27 (see gankit.models.sequential). Keras' defaults hold where the document says
# nothing: glorot-uniform init, biases on, batch norm eps 1e-3 and momentum 0.99,
# LeakyReLU slope 0.3. Its listings set slope 0.2 (MLPs, DCGAN D) and momentum 0.8
# (DCGANs); dropout 0.25 is the listings' rate, which the figures cannot show.
def _up(channels: int) -> list[str]:
    return ["upsample", f"conv {channels}", "norm", "relu"]  # UpSampling2D + Conv2D stage


def _down(channels: int, norm: bool = True) -> list[str]:
    return [f"conv {channels} s2", *(["norm"] if norm else []), "leaky_relu", "dropout"]


MLP_003 = ModelConfig(  # Figure 4-1: batch norm after each LeakyReLU of G
    arch="keras",
    g_layers=["dense 256", "leaky_relu", "norm", "dense 512", "leaky_relu", "norm"]
    + ["dense 1024", "leaky_relu", "norm", "dense image tanh", "reshape image"],
    d_layers=["flatten", "dense 512", "leaky_relu", "dense 256", "leaky_relu", "dense 1"],
    g_norm="batch",
    d_norm="none",
    g_slope=0.2,
    d_slope=0.2,
)
_WIDE_512 = ["dense 512", "leaky_relu"] * 4
MLP_003_64 = replace(  # Figure 4-18: "4-layer MLP", 512 units each, no batch norm
    MLP_003,
    g_layers=[*_WIDE_512, "dense image tanh", "reshape image"],
    d_layers=["flatten", *_WIDE_512, "dense 1"],
    g_norm="none",
)
DCGAN_003 = ModelConfig(  # Figure 4-4: Keras-GAN's MNIST DCGAN, kernel 3
    arch="keras",
    g_layers=["dense 6272 relu", "reshape 128", *_up(128), *_up(64), "conv image", "tanh"],
    d_layers=["conv 32 s2", "leaky_relu", "dropout", "conv 64 s2", "zero_pad", "norm"]
    + ["leaky_relu", "dropout", *_down(128), "conv 256", "norm", "leaky_relu", "dropout"]
    + ["flatten", "dense 1"],
    g_kernel=3,
    d_kernel=3,
    d_slope=0.2,
    bn_momentum=0.8,
)
WGAN_003 = ModelConfig(  # Figure 4-7, also WGAN-GP's: a critic without norm, dense head
    arch="keras",
    g_layers=["dense 1024", "leaky_relu", "dense 6272", "norm", "leaky_relu", "reshape 128"]
    + ["conv_t 128 s2", "norm", "leaky_relu", "conv 64", "norm", "leaky_relu"]
    + ["conv_t 64 s2", "norm", "leaky_relu", "conv image tanh"],
    d_layers=["conv 64", "leaky_relu", "dropout", "conv 128 s2 valid", "leaky_relu", "dropout"]
    + ["conv 128 s2", "leaky_relu", "dropout", "flatten", "dense 1024", "leaky_relu", "dense 1"],
    d_norm="none",
)
_G_64 = ["dense 16384 relu", "reshape 1024", *_up(512), *_up(256), *_up(128), *_up(64)]
DCGAN_003_64 = replace(  # Figure 4-21: kernel 5, a 64-channel stage at 64x64
    DCGAN_003,
    g_layers=[*_G_64, "conv image", "tanh"],
    d_layers=[*_down(64, norm=False), *_down(128), *_down(256), *_down(512), "flatten", "dense 1"],
    g_kernel=5,
    d_kernel=5,
)
WGAN_003_64 = replace(  # Figure 4-24: batch norm on G's first maps, 128 channels at 64x64
    DCGAN_003_64,
    g_layers=["dense 16384", "reshape 1024", "norm", "relu", *_up(512), *_up(256), *_up(128)]
    + ["upsample", "conv image", "tanh"],
)
WGAN_GP_003_64 = replace(DCGAN_003_64, d_norm="none")  # Figure 4-27: no norm in the critic

_LOG_003 = LogConfig(sample_every=200, checkpoint_every=10_000, sample_count=64)
# (network, figure) of GAN, DCGAN, WGAN and WGAN-GP; MNIST's WGAN-GP reuses WGAN's (4.1.4).
_MNIST_NETS_003 = ((MLP_003, "4-1"), (DCGAN_003, "4-4"), (WGAN_003, "4-7"), (WGAN_003, "4-7"))
_NETS_003_64 = (
    (MLP_003_64, "4-18"),
    (DCGAN_003_64, "4-21"),
    (WGAN_003_64, "4-24"),
    (WGAN_GP_003_64, "4-27"),
)
for _data, _prefix, _batch, _steps, _nets in (
    (MNIST, "mnist", 128, 30_000, _MNIST_NETS_003),
    (SHAPES, "shapes", 64, 30_000, _NETS_003_64),
    (FOLDER_64, "flowers", 64, 40_000, _NETS_003_64),
):
    _data_note = {
        "flowers": "; Oxford-102 flowers",
        "shapes": "; built-in shapes, the offline stand-in for NLVR (--dataset nlvr:PATH for its boxes)",
    }.get(_prefix, "")
    for _suffix, (_model, _figure), _loss, _train in zip(
        ("gan", "dcgan", "wgan", "wgan-gp"),
        _nets,
        (NS, NS, WGAN, WGAN_GP),
        (ADAM_DCGAN, ADAM_DCGAN, RMSPROP_WGAN, ADAM_WGAN_GP),
        strict=True,
    ):
        _add(
            f"{_prefix}-{_suffix}",
            "003",
            f"the networks of Figure {_figure}{_data_note}",
            data=_data,
            model=_model,
            loss=_loss,
            train=replace(_train, batch_size=_batch, steps=_steps),
            log=_LOG_003,
        )

# 004: MLP GAN on flowers -------------------------------------------------------
# Normalised "using the mean and standard deviation of the RGB channels" (measured here);
# its cropping and rotation are "not explicitly mentioned in the provided code", so they
# stay off. It gives no batch size: 64 is 003's for these images.
_add(
    "flowers-mlp",
    "004",
    "Oxford-102 flowers",
    data=replace(FOLDER_64, normalize="channel"),
    model=ModelConfig(
        arch="mlp",
        g_hidden=[256, 512, 1024],
        d_hidden=[1024, 512, 256],
        g_norm="none",
        d_norm="none",
        g_act="relu",
        d_act="relu",
    ),
    loss=NS,
    train=replace(
        ADAM_DCGAN, lr_g=2e-4, lr_d=2e-4, beta1_g=0.8, beta1_d=0.8, batch_size=64, epochs=500
    ),
    log=LogConfig(sample_every=0, sample_every_epochs=10),
)

# Lucic et al. 2018, "Are GANs Created Equal?": the Fashion-MNIST column -----------
# Their InfoGAN-style networks (z 64, widths 64/128/1024), batch 64, 20 epochs, Adam
# (beta2 0.999) for every objective, and each objective's default settings in
# compare_gan's params.py (learning rate, beta1, D steps, batch norm in D, lambda, clip);
# `gankit reproduce lucic-fashion` searches around them with `gankit tune`.
LUCIC_INFOGAN = ModelConfig(
    arch="infogan", z_dim=64, g_width=64, d_width=64, g_norm="batch", d_norm="batch"
)
for _loss, _note, _lr, _beta1, _n_critic, _d_norm, _extra in (
    ("minimax", "", 5e-5, 0.0, 1, "batch", {}),
    ("ns", "", 5e-5, 0.0, 1, "batch", {}),
    ("lsgan", "", 2e-4, 0.5, 1, "batch", {}),
    ("wgan", "", 5e-5, 0.5, 5, "batch", {"clip_value": 0.01}),
    ("wgan-gp", "", 1e-4, 0.5, 5, "none", {"gp_weight": 10.0}),
    ("dragan", "", 1e-4, 0.5, 1, "batch", {"gp_weight": 10.0}),
    ("hinge", "not in the paper", 1e-4, 0.5, 1, "batch", {}),
):
    _add(
        f"lucic-fashion-{_loss}",
        "lucic",
        _note,
        data=FASHION,
        model=replace(LUCIC_INFOGAN, d_norm=_d_norm),
        loss=LossConfig(loss=_loss, **_extra),
        train=TrainConfig(
            epochs=20,
            batch_size=64,
            n_critic=_n_critic,
            lr_g=_lr,
            lr_d=_lr,
            beta1_g=_beta1,
            beta1_d=_beta1,
        ),
    )
