"""Shapes, ranges, gradients and layouts of every model family (gankit.models)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models import MODELS, build_models

TINY = ModelConfig(
    z_dim=16,
    embed_dim=8,
    g_width=8,
    d_width=8,
    max_width=32,
    g_hidden=[32, 32],
    d_hidden=[32, 32],
)
NUM_CLASSES = 10
B = 4


def tiny(**overrides) -> ModelConfig:
    return dataclasses.replace(TINY, **overrides)


def build(cfg: ModelConfig, img_size: int, channels: int, num_classes: int = NUM_CLASSES):
    torch.manual_seed(0)
    return build_models(cfg, img_size=img_size, channels=channels, num_classes=num_classes)


def check_pair(G: nn.Module, D: nn.Module, img_size: int, channels: int) -> None:
    """Output shapes and range, and that D(G(z)) reaches every parameter."""
    z = torch.randn(B, G.z_dim)
    labels = torch.arange(B) % NUM_CLASSES if G.conditional else None
    x = G(z, labels)
    assert x.shape == (B, channels, img_size, img_size)
    assert x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    logits = D(x, labels)
    assert logits.shape == (B,)
    assert torch.isfinite(logits).all()
    logits.square().sum().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None, f"{type(net).__name__}.{name} gets no gradient"
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"{type(net).__name__}.{name} has a zero gradient"


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("img_size", [28, 32, 64, 128])
@pytest.mark.parametrize("conditioning", ["none", "concat", "projection"])
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_every_family_size_and_conditioning(arch, conditioning, img_size, channels):
    G, D = build(tiny(arch=arch, conditioning=conditioning), img_size, channels)
    for net in (G, D):
        assert (net.img_size, net.channels, net.num_classes) == (img_size, channels, NUM_CLASSES)
        assert net.conditional == (conditioning != "none")
    assert G.z_dim == D.z_dim == TINY.z_dim
    check_pair(G, D, img_size, channels)


@pytest.mark.parametrize("norm", ["batch", "layer", "none", "spectral"])
@pytest.mark.parametrize("conditioning", ["none", "projection"])
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_every_norm(arch, conditioning, norm):
    cfg = tiny(arch=arch, conditioning=conditioning, g_norm=norm, d_norm=norm)
    G, D = build(cfg, 32, 3)
    check_pair(G, D, 32, 3)
    norm_types = {
        "batch": (nn.BatchNorm1d, nn.BatchNorm2d),
        "layer": (nn.LayerNorm, nn.GroupNorm),
    }.get(norm, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm))
    found = any(isinstance(m, norm_types) for net in (G, D) for m in net.modules())
    assert found == (norm in ("batch", "layer"))
    spectral = [n for n, _ in D.named_parameters() if "parametrizations" in n]
    assert bool(spectral) == (norm == "spectral")


def test_spectral_norm_bounds_d_layers():
    _G, D = build(tiny(arch="dcgan", g_norm="spectral", d_norm="spectral"), 32, 3)
    D.train()
    for _ in range(20):  # power iterations converge while D runs in training mode
        D(torch.randn(2, 3, 32, 32))
    conv = D.features[0]
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_empty_hidden_mlp_is_seed_000_basic_gan():
    # Seed 000's basic GAN: 100-d noise -> 784 -> 28x28, D: 784 -> 1.
    cfg = ModelConfig(arch="mlp", z_dim=100, g_hidden=[], d_hidden=[], g_norm="none")
    G, D = build(cfg, 28, 1, num_classes=0)
    linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(100, 784)]
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 1)]
    check_pair(G, D, 28, 1)


def conv_layout(net: nn.Module) -> list[tuple]:
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    return [
        (
            m.in_channels,
            m.out_channels,
            m.kernel_size[0],
            m.stride[0],
            m.padding[0],
            m.bias is not None,
        )
        for m in convs
    ]


def test_dcgan_64px_is_pytorch_examples_dcgan():
    G, D = build(ModelConfig(arch="dcgan"), 64, 3, num_classes=0)
    # netG of pytorch/examples dcgan (nz 100, ngf 64), our last layer keeping its bias.
    assert conv_layout(G) == [
        (100, 512, 4, 1, 0, False),
        (512, 256, 4, 2, 1, False),
        (256, 128, 4, 2, 1, False),
        (128, 64, 4, 2, 1, False),
        (64, 3, 4, 2, 1, True),
    ]
    # netD without the sigmoid: no norm on the first layer; biases where no batch norm follows.
    assert conv_layout(D) == [
        (3, 64, 4, 2, 1, True),
        (64, 128, 4, 2, 1, False),
        (128, 256, 4, 2, 1, False),
        (256, 512, 4, 2, 1, False),
        (512, 1, 4, 1, 0, True),
    ]
    bns = [m.num_features for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns == [128, 256, 512]
    # pytorch/examples: netG 3,576,704 and netD 2,765,568 parameters, plus our 3 + 64 + 1 biases.
    assert sum(p.numel() for p in G.parameters()) == 3_576_704 + 3
    assert sum(p.numel() for p in D.parameters()) == 2_765_568 + 64 + 1
    # DCGAN init: conv weights N(0, 0.02), batch-norm scales N(1, 0.02).
    w = G.net[3].weight.detach()
    assert w.mean().abs() < 2e-3 and w.std().item() == pytest.approx(0.02, rel=0.05)
    assert G.net[1].weight.detach().mean().item() == pytest.approx(1.0, abs=5e-3)


def test_dcgan_28px_starts_from_7x7():
    G, D = build(ModelConfig(arch="dcgan"), 28, 1, num_classes=0)
    assert conv_layout(G) == [
        (100, 128, 7, 1, 0, False),
        (128, 64, 4, 2, 1, False),
        (64, 1, 4, 2, 1, True),
    ]
    assert conv_layout(D) == [
        (1, 64, 4, 2, 1, True),
        (64, 128, 4, 2, 1, False),
        (128, 1, 7, 1, 0, True),
    ]


def test_dcgan_width_cap_and_conditioning_inputs():
    cfg = ModelConfig(arch="dcgan", g_width=64, d_width=64, max_width=256, conditioning="concat")
    G, D = build(cfg, 128, 3)
    assert [c[1] for c in conv_layout(G)] == [256, 256, 256, 128, 64, 3]
    assert conv_layout(G)[0][0] == 100 + cfg.embed_dim  # noise and label embedding
    assert [c[:2] for c in conv_layout(D)][:2] == [(4, 64), (64, 128)]  # + one label channel
    assert conv_layout(D)[-2][1] == 256


@pytest.mark.parametrize("img_size", [8, 14, 56, 256])
def test_dcgan_other_sizes_of_the_layout(img_size):
    G, D = build(tiny(arch="dcgan", max_width=16), img_size, 1, num_classes=0)
    check_pair(G, D, img_size, 1)


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_channels_last_inputs(arch):
    _G, D = build(tiny(arch=arch, conditioning="projection"), 32, 3)
    D.eval()
    x = torch.rand(B, 3, 32, 32) * 2 - 1
    labels = torch.arange(B)
    expected = D(x, labels)
    got = D(x.contiguous(memory_format=torch.channels_last), labels)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_unconditional_models_ignore_labels():
    G, _D = build(tiny(arch="dcgan"), 32, 3)
    G.eval()
    z = torch.randn(B, G.z_dim)
    torch.testing.assert_close(G(z, torch.zeros(B, dtype=torch.long)), G(z, None))


def test_labels_change_conditional_outputs():
    G, D = build(tiny(arch="dcgan", conditioning="projection"), 32, 3)
    G.eval(), D.eval()
    z = torch.randn(B, G.z_dim)
    a, b = torch.zeros(B, dtype=torch.long), torch.ones(B, dtype=torch.long)
    assert not torch.allclose(G(z, a), G(z, b))
    x = G(z, a)
    assert not torch.allclose(D(x, a), D(x, b))


def test_missing_labels_is_a_programmer_error():
    G, D = build(tiny(arch="mlp", conditioning="concat"), 28, 1)
    with pytest.raises(AssertionError):
        G(torch.randn(B, G.z_dim), None)
    with pytest.raises(AssertionError):
        D(torch.randn(B, 1, 28, 28), None)
    with pytest.raises(AssertionError):
        D(torch.randn(B, 1, 32, 32), torch.zeros(B, dtype=torch.long))


def test_registry_lists_families():
    assert MODELS.names() == ["dcgan", "infogan", "keras", "mlp", "resnet"]


@pytest.mark.parametrize(
    ("overrides", "img_size", "num_classes", "needle"),
    [
        ({"conditioning": "concat"}, 32, 0, "needs labelled data - use --conditioning none"),
        ({"conditioning": "projection"}, 32, 0, "needs labelled data"),
        ({"arch": "dcgn"}, 32, 0, "did you mean 'dcgan'"),
        ({"g_norm": "btach"}, 32, 0, "--g-norm: unknown norm 'btach' - did you mean 'batch'"),
        ({"d_norm": "group"}, 32, 0, "valid: batch, layer, none, spectral"),
        ({"d_act": "leakyrelu"}, 32, 0, "did you mean 'leaky_relu'"),
        ({"conditioning": "projektion"}, 32, 10, "did you mean 'projection'"),
        ({"arch": "dcgan"}, 48, 0, "got 48, use --img-size 64"),
        ({"arch": "dcgan"}, 4, 0, "use --img-size 28"),
        ({"z_dim": 0}, 32, 0, "--z-dim must be at least 1"),
        ({"arch": "mlp", "g_hidden": [32, 0]}, 32, 0, "--g-hidden"),
    ],
)
def test_bad_combinations_raise_one_line(overrides, img_size, num_classes, needle):
    with pytest.raises(GankitError) as info:
        build(tiny(**overrides), img_size, 3, num_classes=num_classes)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_mlp_makes_any_size():
    G, D = build(tiny(arch="mlp"), 48, 2, num_classes=0)
    check_pair(G, D, 48, 2)
