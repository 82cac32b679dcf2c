"""The objectives of gankit.losses: values on known logits, constraints, and that
each one actually teaches a tiny generator."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from gankit.config import LossConfig, ModelConfig
from gankit.errors import GankitError
from gankit.losses import LOSSES, WGAN, WGANGP, Loss, build_loss, build_r1, r1_penalty
from gankit.models import build_models

ALL = ["minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan", "dragan"]


class Identity1D(nn.Module):
    """A stub D whose 'images' are their own logits: x [B, 1] -> x[:, 0]."""

    def forward(self, x, labels=None):
        return x[:, 0]


class LinearD(nn.Module):
    """D(x) = x.flatten(1) @ w: its input gradient is w for every sample."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w


REAL = torch.tensor([[0.0], [2.0]])  # D(x) logits
FAKE = torch.tensor([[-1.0], [2.0]])  # D(G(z)) logits


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def values(name: str):
    loss = build_loss(LossConfig(loss=name))
    d, d_stats = loss.d_loss(Identity1D(), REAL, FAKE, None)
    g, _g_stats = loss.g_loss(Identity1D(), FAKE, None)
    return d.item(), {k: v.item() for k, v in d_stats.items()}, g.item()


def test_registry_and_names():
    assert LOSSES.names() == sorted(ALL)
    for name in ALL:
        assert build_loss(LossConfig(loss=name)).name == name


@pytest.mark.parametrize("name", ALL)
def test_each_objective_declares_the_stats_it_returns_and_its_distance(name):
    loss = build_loss(LossConfig(loss=name))
    _, d_stats = loss.d_loss(Identity1D(), REAL.clone(), FAKE.clone(), None)
    _, g_stats = loss.g_loss(Identity1D(), FAKE.clone(), None)
    assert sorted(loss.stats) == sorted({**d_stats, **g_stats})
    assert len(set(loss.stats)) == len(loss.stats)  # one column per statistic
    # The first three keep their order: metrics.jsonl of earlier runs still reads the same.
    assert loss.stats[:3] == ("d_real", "d_fake", "distance")
    assert loss.distance_name


def test_the_distance_names_follow_the_objective():
    names = {name: LOSSES.get(name).distance_name for name in ALL}
    assert names["wgan"] == names["wgan-gp"] == "Wasserstein estimate"
    assert names["hinge"] == names["lsgan"] == "critic gap"
    assert names["minimax"] == names["ns"] == names["dragan"] == "Jensen-Shannon estimate"


def test_js_objectives_on_known_logits():
    d_expected = (sp(-0.0) + sp(-2.0)) / 2 + (sp(-1.0) + sp(2.0)) / 2
    for name, g_expected in [
        ("minimax", -(sp(-1.0) + sp(2.0)) / 2),  # log(1 - sigmoid(f)) = -softplus(f)
        ("ns", (sp(1.0) + sp(-2.0)) / 2),  # -log sigmoid(f) = softplus(-f)
    ]:
        d, stats, g = values(name)
        assert d == pytest.approx(d_expected)
        assert g == pytest.approx(g_expected)
        assert stats["d_real"] == pytest.approx((0.5 + sig(2.0)) / 2)
        assert stats["d_fake"] == pytest.approx((sig(-1.0) + sig(2.0)) / 2)
        assert stats["distance"] == pytest.approx(math.log(2) - d_expected / 2)


def test_js_distance_is_zero_when_d_cannot_tell():
    # D(x) = 1/2 everywhere (logit 0): V = -log 4, so the JS estimate is 0.
    zeros = torch.zeros(3, 1)
    _, stats = build_loss(LossConfig(loss="ns")).d_loss(Identity1D(), zeros, zeros, None)
    assert stats["distance"].item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("name", "d_expected"),
    [
        ("wgan", 0.5 - 1.0),  # E D(G(z)) - E D(x)
        ("hinge", (1 + 0) / 2 + (0 + 3) / 2),  # E relu(1 - D(x)) + E relu(1 + D(G(z)))
    ],
)
def test_critic_objectives_on_known_logits(name, d_expected):
    d, stats, g = values(name)
    assert d == pytest.approx(d_expected)
    assert g == pytest.approx(-0.5)  # -E D(G(z))
    # d_real_sign, ADA's r_t: E sign(D(x)) = (sign 0 + sign 2) / 2.
    expected = {"d_real": 1.0, "d_fake": 0.5, "distance": 0.5, "d_real_sign": 0.5}
    assert stats == pytest.approx(expected)


def test_wgan_gp_on_a_linear_critic():
    # D(x) = x @ w has input gradient w, so the penalty is (||w|| - 1)^2 exactly.
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    w = torch.randn(16)
    loss = WGANGP(gp_weight=10.0)
    d, stats = loss.d_loss(LinearD(w / w.norm()), real, fake, None)
    assert stats["gp"].item() == pytest.approx(0.0, abs=1e-10)
    D = LinearD(2 * w / w.norm())
    d, stats = loss.d_loss(D, real, fake, None)
    assert stats["gp"].item() == pytest.approx(1.0, rel=1e-5)
    gap = (fake.flatten(1) @ D.w - real.flatten(1) @ D.w).mean()
    assert d.item() == pytest.approx(gap.item() + 10.0, rel=1e-5)
    # create_graph: the penalty's own gradient reaches w, d/dw 10 (||w|| - 1)^2 = 20 w/||w||.
    d.backward()
    expected = (fake - real).flatten(1).mean(0) + 20 * D.w.detach() / D.w.detach().norm()
    torch.testing.assert_close(D.w.grad, expected)


def test_wgan_gp_penalty_is_positive_for_a_steep_critic_and_seeded():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 1), nn.Flatten(0))
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    penalties = []
    for _ in range(2):
        loss = build_loss(LossConfig(loss="wgan-gp"))
        loss.generator = torch.Generator().manual_seed(7)
        penalties.append(loss.penalty(lambda x, y: 30 * D(x), real, fake, None))
    assert penalties[0].item() > 1.0
    assert penalties[0].item() == penalties[1].item()  # same generator seed, same alphas


def test_wgan_constrain_clips_every_parameter_in_place():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    loss = build_loss(LossConfig(loss="wgan", clip_value=0.05))
    before = {n: p.detach().clone() for n, p in D.named_parameters()}
    ids = {n: id(p) for n, p in D.named_parameters()}
    loss.constrain(D)
    for n, p in D.named_parameters():
        assert id(p) == ids[n] and not p.grad_fn
        torch.testing.assert_close(p.detach(), before[n].clamp(-0.05, 0.05))
    # The parameter list is cached per D; a new D is picked up, not the old list reused.
    D2 = nn.Linear(3, 3)
    with torch.no_grad():
        D2.weight.fill_(1.0)
    loss.constrain(D2)
    assert (D2.weight == 0.05).all()


def test_options_are_checked():
    with pytest.raises(GankitError, match="did you mean 'hinge'"):
        build_loss(LossConfig(loss="hnige"))
    with pytest.raises(GankitError, match="--clip-value must be above 0"):
        build_loss(LossConfig(loss="wgan", clip_value=0.0))
    with pytest.raises(GankitError, match="--gp-weight"):
        build_loss(LossConfig(loss="wgan-gp", gp_weight=-1.0))
    assert isinstance(build_loss(LossConfig(loss="wgan", clip_value=0.1)), WGAN)
    assert build_loss(LossConfig(loss="wgan", clip_value=0.1)).clip_value == 0.1


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("arch", "conditioning"), [("mlp", "concat"), ("dcgan", "projection")])
def test_every_objective_with_conditional_models(name, arch, conditioning):
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, conditioning=conditioning, z_dim=8, embed_dim=4, d_norm="layer")
    cfg = dataclasses.replace(cfg, g_width=4, d_width=4, g_hidden=[16], d_hidden=[16])
    G, D = build_models(cfg, img_size=28, channels=1, num_classes=3)
    loss: Loss = build_loss(LossConfig(loss=name))
    labels = torch.tensor([0, 1, 2, 1])
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    fake = G(torch.randn(4, 8), labels)
    d, d_stats = loss.d_loss(D, real, fake.detach(), labels)
    d.backward()
    assert all(p.grad is not None for p in D.parameters())
    assert G.net[0].weight.grad is None  # fake was detached
    g, g_stats = loss.g_loss(D, fake, labels)
    g.backward()
    assert all(p.grad is not None for p in G.parameters())
    loss.constrain(D)
    for value in (d, g):
        assert value.shape == () and torch.isfinite(value)
    expected = {"d_real", "d_fake", "distance", "d_real_sign"} | (
        {"gp"} if name in ("wgan-gp", "dragan") else set()
    )
    assert set(d_stats) == expected
    for stat in [*d_stats.values(), *g_stats.values()]:
        assert stat.shape == () and not stat.requires_grad and stat.dtype == torch.float32


@pytest.mark.parametrize("name", ["ns", "wgan-gp"])
def test_losses_are_float32_under_bf16_autocast(name):
    D = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1), nn.Flatten(0))
    real, fake = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d, stats = build_loss(LossConfig(loss=name)).d_loss(lambda x, y: D(x), real, fake, None)
    assert d.dtype == torch.float32 and stats["distance"].dtype == torch.float32
    d.backward()


# A tiny GAN on 2-D Gaussian data: every objective must pull G's mean to the target.
TARGET = torch.tensor([3.0, 3.0])
# name -> (optimiser, lr, Adam betas, D steps per G step, G steps, clip value)
RECIPES = {
    "minimax": ("adam", 2e-3, (0.5, 0.999), 1, 400, 0.01),
    "ns": ("adam", 2e-3, (0.5, 0.999), 1, 400, 0.01),
    "hinge": ("adam", 2e-3, (0.5, 0.999), 1, 400, 0.01),
    "wgan": ("rmsprop", 5e-3, None, 1, 400, 0.05),  # the paper's RMSProp, coarser steps
    "wgan-gp": ("adam", 2e-3, (0.5, 0.9), 3, 200, 0.01),  # the paper's Adam betas
    "lsgan": ("adam", 2e-3, (0.5, 0.999), 1, 400, 0.01),
    "dragan": ("adam", 2e-3, (0.5, 0.9), 2, 400, 0.01),  # the penalty slows D: two D steps
}


class TinyG(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, z, labels=None):
        return self.net(z)


class TinyD(nn.Module):
    def __init__(self):
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.net = nn.Sequential(nn.Linear(2, 32), act, nn.Linear(32, 32), act, nn.Linear(32, 1))

    def forward(self, x, labels=None):
        return self.net(x).squeeze(1)


@pytest.mark.slow  # hundreds of steps per objective
@pytest.mark.parametrize("name", ALL)
def test_a_tiny_gan_learns_the_target_mean(name):
    opt, lr, betas, n_critic, steps, clip = RECIPES[name]
    torch.manual_seed(0)
    G, D = TinyG(), TinyD()
    loss = build_loss(LossConfig(loss=name, clip_value=clip))
    loss.generator = torch.Generator().manual_seed(1)
    if opt == "adam":
        opt_g = torch.optim.Adam(G.parameters(), lr, betas=betas)
        opt_d = torch.optim.Adam(D.parameters(), lr, betas=betas)
    else:
        opt_g, opt_d = (
            torch.optim.RMSprop(G.parameters(), lr),
            torch.optim.RMSprop(D.parameters(), lr),
        )
    gen = torch.Generator().manual_seed(2)
    z_eval = torch.randn(2048, 2, generator=torch.Generator().manual_seed(3))

    def distance() -> float:
        with torch.no_grad():
            return (G(z_eval).mean(0) - TARGET).norm().item()

    start = distance()
    for _ in range(steps):
        for _ in range(n_critic):
            real = TARGET + 0.5 * torch.randn(64, 2, generator=gen)
            fake = G(torch.randn(64, 2, generator=gen)).detach()
            d, _ = loss.d_loss(D, real, fake, None)
            opt_d.zero_grad(set_to_none=True)
            d.backward()
            opt_d.step()
            loss.constrain(D)
        g, _ = loss.g_loss(D, G(torch.randn(64, 2, generator=gen)), None)
        opt_g.zero_grad(set_to_none=True)
        g.backward()
        opt_g.step()
    end = distance()
    assert start > 3.5  # G starts near the origin, far from (3, 3)
    assert end < 0.4 * start, f"{name}: |mean - target| went {start:.2f} -> {end:.2f}"


def test_r1_and_its_gradient_by_hand():
    # D(x) = sum(a * x^2): grad_x D = 2 a x, so R1 = E_batch sum (2 a x)^2 and
    # dR1/da = E_batch 8 a x^2 (elementwise), written out rather than asked of autograd.
    a = torch.tensor([[[0.5, -1.0], [2.0, 0.25]]], requires_grad=True)

    class Quadratic(torch.nn.Module):
        def forward(self, x, labels=None):
            return (a * x.square()).flatten(1).sum(1)

    x = torch.tensor([[[[1.0, 2.0], [-1.0, 0.5]]], [[[0.0, -3.0], [2.0, 1.0]]]])
    r1 = r1_penalty(Quadratic(), x, None)
    by_hand = (2 * a * x).square().flatten(1).sum(1).mean()
    assert r1.item() == pytest.approx(by_hand.item())
    (grad,) = torch.autograd.grad(r1, a)
    assert torch.allclose(grad, (8 * a * x.square()).mean(0))


def test_lazy_r1_is_due_every_k_steps_and_weighted_by_k():
    lazy = build_r1(LossConfig(r1_gamma=2.0, r1_every=4))
    assert [lazy.due(step) for step in range(6)] == [True, False, False, False, True, False]
    x = torch.ones(3, 1, 2, 2)
    weighted, logged = lazy(Identity1D(), x, None)
    assert weighted.item() == pytest.approx(2.0 / 2 * 4 * logged.item())
    assert build_r1(LossConfig()) is None
