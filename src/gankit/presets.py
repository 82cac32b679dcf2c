"""Named experiments as values: one preset per experiment of the source documents.

Each preset is a complete ``Config`` built from the defaults with the
document's settings (see ``shared/spec/seeds.md``); ``fashion`` is gankit's
own default, chosen for the best Fashion-MNIST images per minute of training.
Any field can still be overridden on the command line.
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
from gankit.registry import Registry


@dataclass(frozen=True)
class Preset:
    name: str
    source: str  # which document (and experiment) it reproduces
    summary: str
    config: Config


PRESETS: Registry[Preset] = Registry("preset")


def _add(name: str, source: str, summary: str, **sections) -> None:
    cfg = from_dict(to_dict(replace(Config(preset=name), **sections)))  # checks every type
    PRESETS.register(name)(Preset(name, source, summary, cfg))


def get_preset(name: str) -> Config:
    return PRESETS.get(name).config


# Building blocks -----------------------------------------------------------
FASHION = DataConfig(dataset="fashion-mnist")
MNIST = DataConfig(dataset="mnist")
SHAPES = DataConfig(dataset="shapes", img_size=64)
FOLDER_64 = DataConfig(dataset="", img_size=64, channels=3, use_labels=False)

MLP_003 = ModelConfig(
    arch="mlp",
    g_hidden=[256, 512, 1024],
    d_hidden=[512, 256],
    g_norm="batch",
    d_norm="none",
    g_act="leaky_relu",
)
DCGAN = ModelConfig(arch="dcgan", g_width=64, d_width=64)
DCGAN_003_64 = ModelConfig(arch="dcgan", g_width=128, d_width=64)  # 4x4x1024 -> 64x64x3

NS = LossConfig(loss="ns")
WGAN = LossConfig(loss="wgan", clip_value=0.01)
WGAN_GP = LossConfig(loss="wgan-gp", gp_weight=10.0)

ADAM_DCGAN = TrainConfig(lr_g=2e-4, lr_d=2e-4, beta1_g=0.5, beta1_d=0.5)
RMSPROP_WGAN = TrainConfig(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5)
ADAM_WGAN_GP = TrainConfig(
    lr_g=1e-4, lr_d=1e-4, beta1_g=0.0, beta2_g=0.9, beta1_d=0.0, beta2_d=0.9, n_critic=5
)

# gankit's default ------------------------------------------------------------
_add(
    "fashion",
    "gankit",
    "conditional DCGAN, projection D with spectral norm, hinge loss, EMA",
    data=FASHION,
    model=ModelConfig(
        arch="dcgan",
        conditioning="projection",
        g_width=32,
        d_width=32,
        g_norm="batch",
        d_norm="spectral",
        embed_dim=32,
    ),
    loss=LossConfig(loss="hinge"),
    train=TrainConfig(
        epochs=20,
        batch_size=64,
        lr_g=2e-4,
        lr_d=2e-4,
        beta1_g=0.0,
        beta2_g=0.9,
        beta1_d=0.0,
        beta2_d=0.9,
        ema_halflife_images=10_000,
    ),
    log=LogConfig(sample_every=500, checkpoint_every=2000),
)

# 000: four models on Fashion-MNIST ------------------------------------------
_add(
    "fashion-gan",
    "000",
    "fully connected GAN, BCE, Adam lr 0.002, batch 256, 100 epochs",
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
    "conditional DCGAN (label embedding), BCE, batch 256, 100 epochs",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat"),
    loss=NS,
    train=replace(ADAM_DCGAN, batch_size=256, epochs=100),
)
_add(
    "fashion-wgan",
    "000",
    "conditional DCGAN critic, weight clipping 0.01, RMSprop, 5 critic "
    "steps, batch 256, 100 epochs",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat"),
    loss=WGAN,
    train=replace(RMSPROP_WGAN, batch_size=256, epochs=100),
)
_add(
    "fashion-wgan-gp",
    "000",
    "conditional DCGAN, gradient penalty 10, layer-norm critic, "
    "batch 64, 200 epochs (resume for 50 more)",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat", d_norm="layer"),
    loss=WGAN_GP,
    train=replace(ADAM_WGAN_GP, batch_size=64, epochs=200),
)

# 001: the slow conditional GAN with evaluation --------------------------------
_add(
    "fashion-cgan-slow",
    "001",
    "conditional DCGAN, lr 1e-4, 200 epochs",
    data=FASHION,
    model=replace(DCGAN, conditioning="concat"),
    loss=NS,
    train=replace(ADAM_DCGAN, lr_g=1e-4, lr_d=1e-4, batch_size=128, epochs=200),
)

# 002: DCGAN on Fashion-MNIST and abstract art --------------------------------
_add(
    "fashion-dcgan",
    "002",
    "DCGAN (Radford et al.), BCE, batch 128, 50 epochs",
    data=FASHION,
    model=DCGAN,
    loss=NS,
    train=replace(ADAM_DCGAN, batch_size=128, epochs=50),
)
_add(
    "art-dcgan-128",
    "002",
    "DCGAN at 128 px on an image folder, random flips, batch 128, "
    "200 epochs (needs --dataset FOLDER)",
    data=replace(FOLDER_64, img_size=128, hflip=True, vflip=True),
    model=DCGAN,
    loss=NS,
    train=replace(ADAM_DCGAN, batch_size=128, epochs=200),
    log=LogConfig(sample_every=200),
)

# 003: four models on three datasets, by iterations ---------------------------
_LOG_003 = LogConfig(sample_every=200, checkpoint_every=10_000, sample_count=64)
for _data, _prefix, _batch, _steps, _dcgan in (
    (MNIST, "mnist", 128, 30_000, DCGAN),
    (SHAPES, "shapes", 64, 30_000, DCGAN_003_64),
    (FOLDER_64, "flowers", 64, 40_000, DCGAN_003_64),
):
    _what = " (needs --dataset FOLDER of Oxford-102 images)" if _prefix == "flowers" else ""
    _add(
        f"{_prefix}-gan",
        "003",
        f"MLP GAN (256/512/1024), BCE, batch {_batch}, {_steps} steps" + _what,
        data=_data,
        model=MLP_003,
        loss=NS,
        train=replace(ADAM_DCGAN, batch_size=_batch, steps=_steps),
        log=_LOG_003,
    )
    _add(
        f"{_prefix}-dcgan",
        "003",
        f"DCGAN, BCE, batch {_batch}, {_steps} steps" + _what,
        data=_data,
        model=_dcgan,
        loss=NS,
        train=replace(ADAM_DCGAN, batch_size=_batch, steps=_steps),
        log=_LOG_003,
    )
    _add(
        f"{_prefix}-wgan",
        "003",
        f"DCGAN critic, clipping 0.01, RMSprop, 5 critic steps, {_steps} steps" + _what,
        data=_data,
        model=_dcgan,
        loss=WGAN,
        train=replace(RMSPROP_WGAN, batch_size=_batch, steps=_steps),
        log=_LOG_003,
    )
    _add(
        f"{_prefix}-wgan-gp",
        "003",
        f"DCGAN, gradient penalty, no batch norm in the critic, {_steps} steps" + _what,
        data=_data,
        model=replace(_dcgan, d_norm="layer"),
        loss=WGAN_GP,
        train=replace(ADAM_WGAN_GP, batch_size=_batch, steps=_steps),
        log=_LOG_003,
    )

# 004: MLP GAN on flowers -------------------------------------------------------
_add(
    "flowers-mlp",
    "004",
    "MLP GAN on 64 px flowers, ReLU, Adam 2e-4 betas (0.8, 0.999), "
    "500 epochs (needs --dataset FOLDER)",
    data=FOLDER_64,
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
    log=LogConfig(sample_every=1280),
)

# Lucic et al. 2018, "Are GANs Created Equal?": the Fashion-MNIST column -----------
# Their InfoGAN-style networks (z 64, widths 64/128/1024), batch 64, 20 epochs, Adam
# (beta2 0.999) for every objective, and each objective's default settings in
# compare_gan's params.py (learning rate, beta1, D steps, batch norm in D, lambda, clip);
# `gankit reproduce lucic-fashion` searches around them with `gankit tune`.
LUCIC_INFOGAN = ModelConfig(
    arch="infogan", z_dim=64, g_width=64, d_width=64, g_norm="batch", d_norm="batch"
)
for _loss, _what, _lr, _beta1, _n_critic, _d_norm, _extra in (
    ("minimax", "MM GAN (minimax)", 5e-5, 0.0, 1, "batch", {}),
    ("ns", "NS GAN (non-saturating)", 5e-5, 0.0, 1, "batch", {}),
    ("lsgan", "LSGAN (least squares)", 2e-4, 0.5, 1, "batch", {}),
    ("wgan", "WGAN, clipping 0.01", 5e-5, 0.5, 5, "batch", {"clip_value": 0.01}),
    ("wgan-gp", "WGAN-GP, lambda 10, no norm in D", 1e-4, 0.5, 5, "none", {"gp_weight": 10.0}),
    ("dragan", "DRAGAN, lambda 10", 1e-4, 0.5, 1, "batch", {"gp_weight": 10.0}),
    ("hinge", "hinge (not in the paper)", 1e-4, 0.5, 1, "batch", {}),
):
    _add(
        f"lucic-fashion-{_loss}",
        "lucic",
        f"InfoGAN-style nets, {_what}, Adam lr {_lr:g} beta1 {_beta1:g}, {_n_critic} D "
        "step(s), batch 64, 20 epochs",
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
