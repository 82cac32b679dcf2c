"""The 003 presets build seed 003's Keras networks layer for layer, and the keras
family behaves: Keras' padding and init, its layer tables, one-line errors, training.

Each table below is transcribed from the document's figure named above it: one row
per layer, "Keras type, output shape without the batch, Param #", then the totals
(total, trainable, non-trainable) that Keras prints under it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models import build_models, keras_layers, layer_tables
from gankit.models.keras_layers import Conv2D, Conv2DTranspose, Dropout, same_padding
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


def test_same_padding_is_tensorflows():
    assert same_padding(64, 5, 2) == (1, 2)  # the odd pixel at the end
    assert same_padding(28, 3, 2) == (0, 1)
    assert same_padding(14, 5, 1) == (2, 2)
    torch.manual_seed(0)
    conv = Conv2D(2, 3, kernel=5, stride=2, same=True, act="")
    x = torch.randn(1, 2, 12, 12)
    padded = nn.functional.pad(x, (1, 2, 1, 2))
    expected = nn.functional.conv2d(padded, conv.weight, conv.bias, stride=2)
    assert torch.allclose(conv(x), expected)


def test_same_transposed_conv_is_the_adjoint_of_same_conv():
    # TensorFlow's Conv2DTranspose is the gradient of Conv2D: <conv(x), y> = <x, conv_t(y)>.
    torch.manual_seed(0)
    conv = Conv2D(2, 3, kernel=5, stride=2, same=True, act="")
    conv_t = Conv2DTranspose(3, 2, kernel=5, stride=2, same=True, act="")
    conv_t.weight.data.copy_(conv.weight.data)
    nn.init.zeros_(conv.bias), nn.init.zeros_(conv_t.bias)
    x, y = torch.randn(1, 2, 14, 14), torch.randn(1, 3, 7, 7)
    with torch.no_grad():
        left, right = (conv(x) * y).sum(), (x * conv_t(y)).sum()
    assert conv_t(y).shape == x.shape
    assert torch.allclose(left, right, rtol=1e-5)


def test_keras_defaults_init_and_batch_norm():
    cfg = get_preset("mnist-wgan").model
    G, D = build_models(cfg, img_size=28, channels=1, num_classes=0)
    for m in [*G.modules(), *D.modules()]:
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            assert m.weight.abs().max() <= (6 / (fan_in + fan_out)) ** 0.5
            assert m.weight.std() > 0.5 * (2 / (fan_in + fan_out)) ** 0.5
            assert m.bias is not None and not m.bias.any()
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.eps == 1e-3 and m.momentum == pytest.approx(0.01) for m in norms)
    G, _ = build_preset("mnist-dcgan")  # the listings' BatchNormalization(momentum=0.8)
    assert {round(m.momentum, 6) for m in G.modules() if isinstance(m, nn.BatchNorm2d)} == {0.2}
    slopes = {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.3}  # Keras' default alpha, where the document gives none


TINY_KERAS = ModelConfig(
    arch="keras",
    z_dim=8,
    g_layers=["dense 64 relu", "reshape 4", "upsample", "conv 8", "norm", "relu"]
    + ["upsample", "conv image", "tanh"],
    d_layers=["conv 8 s2", "leaky_relu", "dropout", "conv 16 s2 valid", "norm"]
    + ["leaky_relu", "dropout", "flatten", "dense 1"],
    g_kernel=3,
    d_kernel=3,
)


@pytest.mark.parametrize("norm", ["batch", "layer", "none", "spectral"])
def test_tiny_keras_pair_trains_and_keeps_the_model_contract(norm):
    cfg = replace(TINY_KERAS, g_norm=norm, d_norm=norm)
    torch.manual_seed(0)
    G, D = build_models(cfg, img_size=16, channels=3, num_classes=0)
    torch.manual_seed(0)
    G2, D2 = build_models(cfg, img_size=16, channels=3, num_classes=0)
    for a, b in zip([*G.state_dict().values()], [*G2.state_dict().values()], strict=True):
        assert torch.equal(a, b)  # the same seed builds the same weights
    z = torch.randn(4, 8)
    x = G(z)
    assert x.shape == (4, 3, 16, 16) and x.abs().max() <= 1
    logits = D(x.contiguous(memory_format=torch.channels_last))
    assert logits.shape == (4,)
    logits.sum().backward()
    assert all(p.grad is not None for p in [*G.parameters(), *D.parameters()])
    D2.load_state_dict(D.state_dict())  # the layout is the saved config's


@pytest.mark.parametrize(
    ("change", "size", "expected"),
    [
        ({"d_dropout": 1.0}, 16, "--d-dropout must be in [0, 1) - got 1.0"),
        ({"g_dropout": -0.1}, 16, "--g-dropout must be in [0, 1)"),
        ({"d_kernel": 9}, 16, "kernel 9 does not fit the 8x8 maps"),
        ({"g_kernel": 0}, 16, "--g-kernel must be at least 1"),
        ({"bn_momentum": 1.0}, 16, "--bn-momentum must be in [0, 1)"),
        ({}, 32, "end in 3x16x16, not the 3x32x32 images - use --img-size 16"),
        ({"g_layers": ["dense 8", "reshape 2"]}, 16, "end in 2x2x2, not the 3x16x16 images - end"),
        (
            {"d_layers": ["conv 8 s2", "flatten"]},
            16,
            "end in 512, not the 1 logit - end them with 'dense 1'",
        ),
        ({"d_layers": ["dense 1"]}, 16, "needs a vector - put 'flatten' before it"),
        ({"g_layers": ["conv 3"]}, 16, "needs feature maps - put 'reshape C' before it"),
        ({"g_layers": ["dense 48", "reshape 5"]}, 16, "48 values are not 5 square maps"),
        ({"g_layers": ["dense 48", "reshape 3", "convolve 3"]}, 16, "unknown layer - use one of"),
        ({"g_layers": ["dense many"]}, 16, "'many' is not a width"),
        ({"g_layers": ["dense 768 sigmoid"]}, 16, "'sigmoid' is not relu or tanh"),
        ({"g_layers": ["dense 48", "reshape 3", "conv_t 3 k1 s2"]}, 16, "below the stride"),
        ({"g_layers": []}, 16, "--arch keras needs --g-layers - start from a preset"),
        ({"conditioning": "concat"}, 16, "--arch keras takes no labels"),
    ],
)
def test_bad_input_is_one_line_naming_the_fix(change, size, expected):
    cfg = replace(TINY_KERAS, **change)
    with pytest.raises(GankitError) as info:
        build_models(cfg, img_size=size, channels=3, num_classes=10)
    message = str(info.value)
    assert expected in message and "\n" not in message and " - " in message


def test_a_kernel_too_large_for_the_image_names_the_knob():
    cfg = replace(get_preset("mnist-dcgan").model, d_kernel=31)
    with pytest.raises(GankitError, match=r"--d-layers 'conv 32 s2': kernel 31 .*\(--d-kernel"):
        build_models(cfg, img_size=28, channels=1, num_classes=10)


@pytest.mark.slow  # trains two or three runs and compares them
def test_resume_with_dropout_is_bit_identical(tmp_path):
    from gankit import training
    from gankit.checkpoint import TRAINING_FILE, read_tensors
    from gankit.run import open_run
    from tests.support import tiny_config

    model = {k: getattr(replace(TINY_KERAS, d_dropout=0.5), k) for k in vars(TINY_KERAS)}
    model["conditioning"] = "none"
    sections = {"model": model, "data": {"img_size": 16}, "loss": {"loss": "ns"}}
    straight = training.train(tiny_config(**sections), tmp_path / "a", progress=False).run
    half = tiny_config(**sections)
    half.train.steps = 3
    training.train(half, tmp_path / "b", progress=False)
    resumed = open_run(tmp_path / "b")
    cfg = resumed.config()
    cfg.train.steps = 6
    training.resume(resumed, cfg, progress=False)
    a = read_tensors(straight.checkpoint_dir(6), TRAINING_FILE)
    b = read_tensors(resumed.checkpoint_dir(6), TRAINING_FILE)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_dropout_masks_shard_like_one_process_and_travel_with_the_weights(monkeypatch):
    torch.manual_seed(0)
    whole = Dropout(0.25)
    x = torch.ones(8, 3, 4, 4)
    first, second = whole(x), whole(x)
    assert not torch.equal(first, second)  # a fresh mask per call
    assert torch.allclose(first.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert 0.15 < (first == 0).float().mean() < 0.35
    halves = []
    for rank in (0, 1):  # two data-parallel ranks, each with half the batch
        part = Dropout(0.25)
        part.load_state_dict(whole.state_dict())
        part.set_extra_state(torch.tensor([whole.seed, 0]))
        monkeypatch.setattr(keras_layers, "_shard", lambda rank=rank: (rank, 2))
        halves.append(part(x[:4]))
    assert torch.equal(torch.cat(halves), first)
    resumed = Dropout(0.25)
    resumed.load_state_dict(whole.state_dict())  # seed and calls so far
    monkeypatch.setattr(keras_layers, "_shard", lambda: (0, 1))
    assert torch.equal(resumed(x), whole(x))
    assert torch.equal(whole.eval()(x), x)


@pytest.mark.slow
def test_two_ranks_with_dropout_match_one_process(tmp_path):
    from gankit import config as config_io
    from tests.support import tiny_config
    from tests.training.test_distributed import _assert_close, _gankit, _state

    model = {
        k: getattr(replace(TINY_KERAS, d_dropout=0.5, g_norm="layer", d_norm="none"), k)
        for k in vars(TINY_KERAS)
    }
    model["conditioning"] = "none"
    sections = {"model": model, "data": {"img_size": 16}, "train": {"steps": 3}}
    config_io.save(tiny_config(**sections), tmp_path / "cfg.yaml")
    for nproc, out in ((1, "one"), (2, "two")):
        done = _gankit(["train", "--config", "cfg.yaml", "--out", out, "--quiet"], nproc, tmp_path)
        assert done.returncode == 0, done.stderr
    _assert_close(_state(tmp_path / "one", 3), _state(tmp_path / "two", 3))
