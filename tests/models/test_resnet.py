"""The residual family (SNGAN/BigGAN style): shapes, parameter counts, gradients, bad
sizes and norms, channels-last, the cost summary, and short training runs."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from torch import nn

from gankit import training
from gankit.checkpoint import load_generator
from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models import build_models, describe
from gankit.models.layers import ConditionalBatchNorm2d
from gankit.models.summary import cost
from tests.support import tiny_config

TINY = ModelConfig(
    arch="resnet", z_dim=8, g_width=4, d_width=4, max_width=16, g_norm="batch", d_norm="spectral"
)
K = 3  # classes
B = 2
BASE_AND_STAGES = {28: (7, 2), 32: (4, 3), 64: (4, 4), 128: (4, 5)}


def build(img_size: int, channels: int = 3, num_classes: int = K, **overrides):
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, **overrides)
    return build_models(cfg, img_size=img_size, channels=channels, num_classes=num_classes)


def g_parameters(img_size: int, channels: int, labels: int) -> int:
    """G's parameters from the layer list in the module docstring, written out by hand."""
    base, n = BASE_AND_STAGES[img_size]
    w = [min(4 << (n - i), 16) for i in range(n + 1)]
    per_channel = 2 * (labels or 1)  # a gain and a bias per channel (per label)
    total = 8 * w[0] * base * base + w[0] * base * base  # linear z -> base map
    for a, b in itertools.pairwise(w):
        # norm, conv3 (no bias: batch norm follows), norm, conv3, shortcut conv1
        total += per_channel * a + 9 * a * b + per_channel * b + 9 * b * b + b + a * b + b
    return total + 2 * w[-1] + 9 * w[-1] * channels + channels  # final BN and conv3


def d_parameters(img_size: int, channels: int, labels: int) -> int:
    _base, n = BASE_AND_STAGES[img_size]
    w = [min(4 << j, 16) for j in range(n)]
    total = 9 * channels * w[0] + w[0] + 9 * w[0] * w[0] + w[0] + channels * w[0] + w[0]
    for a, b in itertools.pairwise(w):
        total += 9 * a * b + b + 9 * b * b + b + a * b + b
    total += 2 * (9 * w[-1] * w[-1] + w[-1])  # last block: same width, identity shortcut
    return total + w[-1] + 1 + labels * w[-1]  # linear psi, projection embedding


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("conditioning", ["none", "projection"])
@pytest.mark.parametrize("img_size", [28, 32, 64, 128])
def test_shapes_parameters_and_gradients_at_every_size(img_size, conditioning):
    channels = 1 if img_size == 28 else 3
    G, D = build(img_size, channels, conditioning=conditioning)
    labelled = K if conditioning != "none" else 0
    assert n_params(G) == g_parameters(img_size, channels, labelled)
    assert n_params(D) == d_parameters(img_size, channels, labelled)
    labels = torch.arange(B) % K if labelled else None
    x = G(torch.randn(B, 8), labels)
    assert x.shape == (B, channels, img_size, img_size) and x.abs().max() <= 1
    logits = D(x, labels)
    assert logits.shape == (B,) and torch.isfinite(logits).all()
    logits.square().sum().backward()
    for net in (G, D):
        assert net.conditional == bool(labelled)
        for name, p in net.named_parameters():
            if name.endswith(("gain.weight", "bias.weight")):
                # Only the rows of the labels in the batch are reached.
                assert p.grad[labels].abs().sum() > 0, name
                continue
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_concat_stacks_a_label_map_on_ds_input():
    G, D = build(32, conditioning="concat")
    assert D.blocks[0].conv1.in_channels == 4
    labels = torch.tensor([0, 2])
    assert D(G(torch.randn(B, 8), labels), labels).shape == (B,)


def test_labels_enter_g_through_conditional_batch_norm():
    G, _D = build(32, conditioning="projection")
    cbns = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbns) == 2 * 3  # two per block
    # Gain 1 and bias 0 at init: every label starts as plain batch norm.
    assert all((m.gain.weight == 1).all() and (m.bias.weight == 0).all() for m in cbns)
    G.eval()
    z = torch.randn(B, 8)
    a, b = torch.zeros(B, dtype=torch.long), torch.ones(B, dtype=torch.long)
    torch.testing.assert_close(G(z, a), G(z, b))
    with torch.no_grad():
        cbns[0].bias.weight[1] += 1.0
    assert not torch.allclose(G(z, a), G(z, b))


def test_spectral_norm_on_every_d_weight_by_default():
    _G, D = build(32, conditioning="projection")
    weighted = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weighted and all(hasattr(m, "parametrizations") for m in weighted)
    assert hasattr(D.project.embed, "parametrizations")
    _G, D = build(32, d_norm="layer")
    assert not any("parametrizations" in n for n, _ in D.named_parameters())
    assert any(isinstance(m, nn.GroupNorm) for m in D.modules())


@pytest.mark.parametrize("img_size", [8, 48, 256])
def test_an_unsupported_size_is_one_line_listing_the_sizes(img_size):
    with pytest.raises(GankitError) as info:
        build(img_size)
    message = str(info.value)
    assert "28, 32, 64, 128 px" in message and f"got {img_size}" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"g_norm": "layer"}, "--g-norm: resnet's G takes batch or none"),
        ({"d_norm": "batch"}, "use --d-norm spectral"),
        ({"g_norm": "none", "conditioning": "projection"}, "use --g-norm batch"),
    ],
)
def test_norms_it_does_not_take_are_one_line(overrides, needle):
    with pytest.raises(GankitError) as info:
        build(32, **overrides)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_unconditional_g_without_norm_builds():
    G, D = build(32, num_classes=0, g_norm="none", d_norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert D(G(torch.randn(B, 8))).shape == (B,)


def test_channels_last_gives_the_same_outputs():
    G, D = build(32, conditioning="projection")
    G.eval(), D.eval()
    z, labels = torch.randn(B, 8), torch.tensor([1, 2])
    x = G(z, labels)
    G_last = G.to(memory_format=torch.channels_last)
    torch.testing.assert_close(G_last(z, labels), x, rtol=1e-4, atol=1e-5)
    D.to(memory_format=torch.channels_last)
    got = D(x.contiguous(memory_format=torch.channels_last), labels)
    torch.testing.assert_close(got, D(x.contiguous(), labels), rtol=1e-4, atol=1e-5)


def test_describe_counts_parameters_and_flops_without_touching_state():
    G, D = build(32, conditioning="projection")
    D.blocks[0].eval()  # a mode a caller set on purpose survives
    before = {k: v.clone() for k, v in D.state_dict().items()}
    costs = cost(G, D)
    assert costs["G"][0] == n_params(G) and costs["D"][0] == n_params(D)
    # D's last block at 4x4: two 3x3 convs of 16 -> 16 channels, 2 FLOPs per multiply-add.
    assert costs["D"][1] > 2 * 2 * 16 * 16 * 9 * 16
    assert all(torch.equal(v, D.state_dict()[k]) for k, v in before.items())
    assert D.training and G.training and not D.blocks[0].training
    lines = describe(G, D).splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"G: {n_params(G):,} parameters, ")
    assert lines[1].endswith("FLOPs per image")


def test_describe_serves_every_family():
    for arch in ("mlp", "dcgan", "infogan"):
        cfg = ModelConfig(arch=arch, z_dim=8, g_width=4, d_width=4, g_hidden=[8], d_hidden=[8])
        G, D = build_models(cfg, img_size=28, channels=1, num_classes=0)
        flops = [f for _p, f in cost(G, D).values()]
        assert all(f > 0 for f in flops), arch


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_a_tiny_resnet_trains(tmp_path, loss):
    model = {"arch": "resnet", "g_width": 8, "d_width": 8, "max_width": 16, "d_norm": "spectral"}
    if loss == "wgan-gp":  # the critic of Gulrajani et al.'s ResNet: layer norm
        model["d_norm"] = "layer"
    cfg = tiny_config(
        model=model, loss={"loss": loss}, train={"steps": 3, "ema_halflife_images": 0}
    )
    result = training.train(cfg, tmp_path / "run", progress=False)
    assert result.step == 3
    G, _cfg, _state = load_generator(result.run)  # strict load into a rebuilt G
    labels = torch.arange(B) % G.num_classes
    assert G(torch.randn(B, G.z_dim), labels).shape == (B, 3, 32, 32)
