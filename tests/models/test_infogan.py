"""The InfoGAN-style networks of Lucic et al. (2018): the paper's layers at width 64,
shapes and gradients for every conditioning and norm, bad sizes, and the presets."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models import build_models
from gankit.presets import PRESETS, get_preset

TINY = ModelConfig(arch="infogan", z_dim=8, embed_dim=4, g_width=4, d_width=4)
B = 4


def build(cfg: ModelConfig, img_size: int = 28, channels: int = 1, num_classes: int = 10):
    torch.manual_seed(0)
    return build_models(cfg, img_size=img_size, channels=channels, num_classes=num_classes)


NAMES = {nn.Linear: "fc", nn.Conv2d: "conv", nn.ConvTranspose2d: "deconv"}


def layers(net: nn.Module) -> list[str]:
    """The layer sequence, as the paper's table lists it."""
    out = []
    for m in net.modules():
        if type(m) in NAMES:
            kind = NAMES[type(m)]
            size = m.out_features if kind == "fc" else m.out_channels
            stride = (
                "" if kind == "fc" else f" {m.kernel_size[0]}x{m.kernel_size[0]} s{m.stride[0]}"
            )
            out.append(f"{kind} {size}{stride}")
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            out.append("BN")
        elif isinstance(m, nn.ReLU | nn.LeakyReLU | nn.Tanh):
            out.append(type(m).__name__)
    return out


def test_width_64_is_the_papers_networks():
    G, D = build(ModelConfig(arch="infogan", z_dim=64, g_width=64, d_width=64), num_classes=0)
    assert layers(G) == [
        "fc 1024", "BN", "ReLU", "fc 6272", "BN", "ReLU",
        "deconv 64 4x4 s2", "BN", "ReLU", "deconv 1 4x4 s2", "Tanh",
    ]  # fmt: skip
    assert layers(D) == [
        "conv 64 4x4 s2", "LeakyReLU", "conv 128 4x4 s2", "BN", "LeakyReLU",
        "fc 1024", "BN", "LeakyReLU", "fc 1",
    ]  # fmt: skip
    assert G.fc[0].in_features == 64 and D.features[6].in_features == 7 * 7 * 128
    # Layers followed by batch norm carry no bias (the norm removes it).
    assert G.fc[0].bias is None and D.features[2].bias is None and D.head.bias is not None
    # N(0, 0.02) weights, as compare_gan's.
    assert abs(G.fc[3].weight.std().item() - 0.02) < 0.002


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("img_size", [28, 32])
@pytest.mark.parametrize("conditioning", ["none", "concat", "projection"])
def test_shapes_range_and_gradients(conditioning, img_size, channels):
    G, D = build(dataclasses.replace(TINY, conditioning=conditioning), img_size, channels)
    labels = torch.arange(B) % 10 if conditioning != "none" else None
    x = G(torch.randn(B, 8), labels)
    assert x.shape == (B, channels, img_size, img_size) and x.abs().max() <= 1
    logits = D(x, labels)
    assert logits.shape == (B,) and torch.isfinite(logits).all()
    logits.square().sum().backward()
    for net in (G, D):
        assert net.conditional == (conditioning != "none")
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm", ["batch", "layer", "none", "spectral"])
def test_every_norm(norm):
    G, D = build(dataclasses.replace(TINY, g_norm=norm, d_norm=norm, conditioning="projection"))
    labels = torch.arange(B) % 10
    D(G(torch.randn(B, 8), labels), labels).sum().backward()
    has_bn = any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in D.modules())
    assert has_bn == (norm == "batch")
    if norm == "spectral":
        assert hasattr(D.head, "parametrizations")


@pytest.mark.parametrize(("img_size", "hint"), [(30, "use --img-size 32"), (4, "use --img-size 8")])
def test_a_side_not_a_multiple_of_4_is_one_line(img_size, hint):
    with pytest.raises(GankitError) as info:
        build(TINY, img_size=img_size)
    assert "multiple of 4" in str(info.value) and hint in str(info.value)
    assert "\n" not in str(info.value)


def test_the_lucic_presets_build_on_fashion_mnist():
    names = [n for n in PRESETS.names() if n.startswith("lucic-fashion-")]
    losses = {get_preset(n).loss.loss for n in names}
    assert losses == {"minimax", "ns", "lsgan", "wgan", "wgan-gp", "dragan", "hinge"}
    for name in names:
        cfg = get_preset(name)
        assert (cfg.train.batch_size, cfg.train.epochs, cfg.model.arch) == (64, 20.0, "infogan")
        assert cfg.model.z_dim == 64 and cfg.data.dataset == "fashion-mnist"
        G, D = build(cfg.model, num_classes=0)
        assert D(G(torch.randn(2, 64))).shape == (2,)
