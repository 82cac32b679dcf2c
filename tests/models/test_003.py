"""The 003 presets build seed 003's Keras networks layer for layer, and print them in
Keras' own table form.

Each table below is transcribed from the document's figure named above it: one row
per layer, "Keras type, output shape without the batch, Param #", then the totals
(total, trainable, non-trainable) that Keras prints under it.
"""

from __future__ import annotations

import pytest
from torch import nn

from gankit.config import ModelConfig
from gankit.models import build_models, layer_tables
from gankit.models.layer_table import pair_rows, param_totals
from gankit.presets import PRESETS, get_preset

Table = tuple[list[tuple[str, tuple[int, ...], int]], tuple[int, int, int]]


def table(rows: str, totals: tuple[int, int, int]) -> Table:
    """Rows written as ``Kind h,w,c params`` lines."""
    parsed = []
    for line in rows.strip().splitlines():
        kind, shape, params = line.split()
        parsed.append((kind, tuple(int(n) for n in shape.split(",")), int(params)))
    return parsed, totals


# Figure 4-1. The structures of GAN's model for MNIST.
FIG_4_1_D = table(
    """
    Flatten 784 0
    Dense 512 401920
    LeakyReLU 512 0
    Dense 256 131328
    LeakyReLU 256 0
    Dense 1 257
    """,
    (533_505, 533_505, 0),
)
FIG_4_1_G = table(
    """
    Dense 256 25856
    LeakyReLU 256 0
    BatchNormalization 256 1024
    Dense 512 131584
    LeakyReLU 512 0
    BatchNormalization 512 2048
    Dense 1024 525312
    LeakyReLU 1024 0
    BatchNormalization 1024 4096
    Dense 784 803600
    Reshape 28,28,1 0
    """,
    (1_493_520, 1_489_936, 3_584),
)

# Figure 4-4. The structures of DCGAN's model for MNIST.
FIG_4_4_D = table(
    """
    Conv2D 14,14,32 320
    LeakyReLU 14,14,32 0
    Dropout 14,14,32 0
    Conv2D 7,7,64 18496
    ZeroPadding2D 8,8,64 0
    BatchNormalization 8,8,64 256
    LeakyReLU 8,8,64 0
    Dropout 8,8,64 0
    Conv2D 4,4,128 73856
    BatchNormalization 4,4,128 512
    LeakyReLU 4,4,128 0
    Dropout 4,4,128 0
    Conv2D 4,4,256 295168
    BatchNormalization 4,4,256 1024
    LeakyReLU 4,4,256 0
    Dropout 4,4,256 0
    Flatten 4096 0
    Dense 1 4097
    """,
    (393_729, 392_833, 896),
)
FIG_4_4_G = table(
    """
    Dense 6272 633472
    Reshape 7,7,128 0
    UpSampling2D 14,14,128 0
    Conv2D 14,14,128 147584
    BatchNormalization 14,14,128 512
    Activation 14,14,128 0
    UpSampling2D 28,28,128 0
    Conv2D 28,28,64 73792
    BatchNormalization 28,28,64 256
    Activation 28,28,64 0
    Conv2D 28,28,1 577
    Activation 28,28,1 0
    """,
    (856_193, 855_809, 384),
)

# Figure 4-7. The structures of WGAN's model for MNIST (WGAN-GP's too, section 4.1.4).
FIG_4_7_D = table(
    """
    Conv2D 28,28,64 1664
    LeakyReLU 28,28,64 0
    Dropout 28,28,64 0
    Conv2D 12,12,128 204928
    LeakyReLU 12,12,128 0
    Dropout 12,12,128 0
    Conv2D 6,6,128 409728
    LeakyReLU 6,6,128 0
    Dropout 6,6,128 0
    Flatten 4608 0
    Dense 1024 4719616
    LeakyReLU 1024 0
    Dense 1 1025
    """,
    (5_336_961, 5_336_961, 0),
)
FIG_4_7_G = table(
    """
    Dense 1024 103424
    LeakyReLU 1024 0
    Dense 6272 6428800
    BatchNormalization 6272 25088
    LeakyReLU 6272 0
    Reshape 7,7,128 0
    Conv2DTranspose 14,14,128 409728
    BatchNormalization 14,14,128 512
    LeakyReLU 14,14,128 0
    Conv2D 14,14,64 204864
    BatchNormalization 14,14,64 256
    LeakyReLU 14,14,64 0
    Conv2DTranspose 28,28,64 102464
    BatchNormalization 28,28,64 256
    LeakyReLU 28,28,64 0
    Conv2D 28,28,1 1601
    """,
    (7_276_993, 7_263_937, 13_056),
)

# Figure 4-18. The structures of vanilla GANs' model for colorful images with 64x64 pixels.
FIG_4_18_D = table(
    """
    Flatten 12288 0
    Dense 512 6291968
    LeakyReLU 512 0
    Dense 512 262656
    LeakyReLU 512 0
    Dense 512 262656
    LeakyReLU 512 0
    Dense 512 262656
    LeakyReLU 512 0
    Dense 1 513
    """,
    (7_080_449, 7_080_449, 0),
)
FIG_4_18_G = table(
    """
    Dense 512 51712
    LeakyReLU 512 0
    Dense 512 262656
    LeakyReLU 512 0
    Dense 512 262656
    LeakyReLU 512 0
    Dense 512 262656
    LeakyReLU 512 0
    Dense 12288 6303744
    Reshape 64,64,3 0
    """,
    (7_143_424, 7_143_424, 0),
)

# Figure 4-21. The structures of DCGAN model for colorful images with 64x64 pixels.
FIG_4_21_D = table(
    """
    Conv2D 32,32,64 4864
    LeakyReLU 32,32,64 0
    Dropout 32,32,64 0
    Conv2D 16,16,128 204928
    BatchNormalization 16,16,128 512
    LeakyReLU 16,16,128 0
    Dropout 16,16,128 0
    Conv2D 8,8,256 819456
    BatchNormalization 8,8,256 1024
    LeakyReLU 8,8,256 0
    Dropout 8,8,256 0
    Conv2D 4,4,512 3277312
    BatchNormalization 4,4,512 2048
    LeakyReLU 4,4,512 0
    Dropout 4,4,512 0
    Flatten 8192 0
    Dense 1 8193
    """,
    (4_318_337, 4_316_545, 1_792),
)
FIG_4_21_G = table(
    """
    Dense 16384 1654784
    Reshape 4,4,1024 0
    UpSampling2D 8,8,1024 0
    Conv2D 8,8,512 13107712
    BatchNormalization 8,8,512 2048
    Activation 8,8,512 0
    UpSampling2D 16,16,512 0
    Conv2D 16,16,256 3277056
    BatchNormalization 16,16,256 1024
    Activation 16,16,256 0
    UpSampling2D 32,32,256 0
    Conv2D 32,32,128 819328
    BatchNormalization 32,32,128 512
    Activation 32,32,128 0
    UpSampling2D 64,64,128 0
    Conv2D 64,64,64 204864
    BatchNormalization 64,64,64 256
    Activation 64,64,64 0
    Conv2D 64,64,3 4803
    Activation 64,64,3 0
    """,
    (19_072_387, 19_070_467, 1_920),
)

# Figure 4-24. The structures of WGAN model for colorful images with 64x64 pixels
# (its critic is Figure 4-21's, batch norm included).
FIG_4_24_D = FIG_4_21_D
FIG_4_24_G = table(
    """
    Dense 16384 1654784
    Reshape 4,4,1024 0
    BatchNormalization 4,4,1024 4096
    Activation 4,4,1024 0
    UpSampling2D 8,8,1024 0
    Conv2D 8,8,512 13107712
    BatchNormalization 8,8,512 2048
    Activation 8,8,512 0
    UpSampling2D 16,16,512 0
    Conv2D 16,16,256 3277056
    BatchNormalization 16,16,256 1024
    Activation 16,16,256 0
    UpSampling2D 32,32,256 0
    Conv2D 32,32,128 819328
    BatchNormalization 32,32,128 512
    Activation 32,32,128 0
    UpSampling2D 64,64,128 0
    Conv2D 64,64,3 9603
    Activation 64,64,3 0
    """,
    (18_876_163, 18_872_323, 3_840),
)

# Figure 4-27. The structures of WGAN-GP model for colorful images with 64x64 pixels
# (its generator is Figure 4-21's).
FIG_4_27_D = table(
    """
    Conv2D 32,32,64 4864
    LeakyReLU 32,32,64 0
    Dropout 32,32,64 0
    Conv2D 16,16,128 204928
    LeakyReLU 16,16,128 0
    Dropout 16,16,128 0
    Conv2D 8,8,256 819456
    LeakyReLU 8,8,256 0
    Dropout 8,8,256 0
    Conv2D 4,4,512 3277312
    LeakyReLU 4,4,512 0
    Dropout 4,4,512 0
    Flatten 8192 0
    Dense 1 8193
    """,
    (4_314_753, 4_314_753, 0),
)
FIG_4_27_G = FIG_4_21_G

MNIST_FIGURES = {
    "gan": (FIG_4_1_D, FIG_4_1_G),
    "dcgan": (FIG_4_4_D, FIG_4_4_G),
    "wgan": (FIG_4_7_D, FIG_4_7_G),
    "wgan-gp": (FIG_4_7_D, FIG_4_7_G),
}
FIGURES_64 = {
    "gan": (FIG_4_18_D, FIG_4_18_G),
    "dcgan": (FIG_4_21_D, FIG_4_21_G),
    "wgan": (FIG_4_24_D, FIG_4_24_G),
    "wgan-gp": (FIG_4_27_D, FIG_4_27_G),
}
CASES = [
    (f"{prefix}-{model}", figures[model])
    for prefix, figures in (
        ("mnist", MNIST_FIGURES),
        ("shapes", FIGURES_64),
        ("flowers", FIGURES_64),
    )
    for model in ("gan", "dcgan", "wgan", "wgan-gp")
]


def build_preset(name: str) -> tuple[nn.Module, nn.Module]:
    size, channels = (28, 1) if name.startswith("mnist") else (64, 3)
    return build_models(get_preset(name).model, img_size=size, channels=channels, num_classes=10)


def test_every_003_preset_is_checked_against_a_figure():
    names = sorted(name for name in PRESETS.names() if PRESETS.get(name).source == "003")
    assert names == sorted(name for name, _ in CASES)


@pytest.mark.parametrize(("name", "figures"), CASES, ids=[name for name, _ in CASES])
def test_preset_matches_the_documents_figure_layer_for_layer(name, figures):
    G, D = build_preset(name)
    rows = pair_rows(G, D)
    for net, (expected_rows, expected_totals) in zip((D, G), figures, strict=True):
        role = "D" if net is D else "G"
        got = [(row.kind, row.shape, row.params) for row in rows[role]]
        assert got == expected_rows, role
        assert param_totals(net) == expected_totals, role


def test_layer_tables_print_d_then_g_in_keras_form():
    G, D = build_preset("mnist-dcgan")
    text = layer_tables(G, D)
    d_part, g_part = text.split('Model: "generator"')
    assert d_part.startswith('Model: "discriminator"')
    assert "Layer (type)" in d_part and "Output Shape" in d_part and "Param #" in d_part
    for line in ("zero_padding2d_1 (ZeroPadding2D)", "(None, 8, 8, 64)", "Total params: 393,729"):
        assert line in d_part
    assert "Trainable params: 392,833" in d_part and "Non-trainable params: 896" in d_part
    assert "conv2d_3 (Conv2D)" in g_part and "(None, 28, 28, 1)" in g_part
    assert "Total params: 856,193" in g_part and "Non-trainable params: 384" in g_part


@pytest.mark.parametrize("arch", ["dcgan", "mlp", "resnet"])
def test_layer_tables_count_every_parameter_of_other_families(arch):
    cfg = ModelConfig(arch=arch, z_dim=8, g_width=4, d_width=4, g_hidden=[8], d_hidden=[8])
    cfg.d_norm = "spectral" if arch == "resnet" else cfg.d_norm
    G, D = build_models(cfg, img_size=32, channels=1, num_classes=0)
    for role, rows in pair_rows(G, D).items():
        net = G if role == "G" else D
        stats = sum(m.running_mean.numel() * 2 for m in net.modules() if hasattr(m, "running_var"))
        assert param_totals(net)[0] == sum(p.numel() for p in net.parameters()) + stats
        assert sum(row.params for row in rows) == param_totals(net)[0], role
    assert "Total params:" in layer_tables(G, D)
