"""The keras family behaves as Keras does: TensorFlow's "same" padding, Keras' init and
batch norm, training with the model contract, dropout that resumes and shards exactly,
and one-line errors for layer lists that cannot be built.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models import build_models, keras_layers
from gankit.models.keras_layers import Conv2D, Conv2DTranspose, Dropout, same_padding
from gankit.presets import get_preset
from tests.models.test_003 import build_preset


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
    from gankit.checkpoint import TRAINING_FILE, read_tensors
    from tests.support import straight_and_resumed

    model = {k: getattr(replace(TINY_KERAS, d_dropout=0.5), k) for k in vars(TINY_KERAS)}
    model["conditioning"] = "none"
    sections = {"model": model, "data": {"img_size": 16}, "loss": {"loss": "ns"}}
    straight, resumed = straight_and_resumed(sections, tmp_path)
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
