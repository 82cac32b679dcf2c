"""LSGAN and DRAGAN, the two objectives gankit has for Lucic et al. 2018's comparison:
values on known logits, LSGAN's optimum, DRAGAN's penalty and perturbation, and a
tiny training run with each."""

from __future__ import annotations

import pytest
import torch

from gankit.config import LossConfig
from gankit.errors import GankitError
from gankit.losses import build_loss
from tests.test_losses import FAKE, REAL, Identity1D, LinearD, values


def test_lsgan_on_known_logits():
    d, stats, g = values("lsgan")
    # L_D = 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2 on D(x) = (0, 2), D(G(z)) = (-1, 2)
    assert d == pytest.approx(0.5 * (1 + 1) / 2 + 0.5 * (1 + 4) / 2)
    assert g == pytest.approx(0.5 * (4 + 1) / 2)  # 1/2 E (D(G(z)) - 1)^2
    # d_real_sign, ADA's r_t: E sign(D(x)) = (sign 0 + sign 2) / 2.
    expected = {"d_real": 1.0, "d_fake": 0.5, "distance": 0.5, "d_real_sign": 0.5}
    assert stats == pytest.approx(expected)


def test_lsgan_optimum_is_the_mixture_ratio():
    # D's loss is minimised by D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Mao et al., 0-1 coding).
    # Two points a, b (one-hot, so D = x @ w gives each its own value): real is 2/3 a,
    # fake is 1/3 a, so D*(a) = 2/3 and D*(b) = 1/3.
    a, b = torch.eye(2)
    real, fake = torch.stack([a, a, b]), torch.stack([a, b, b])
    D = LinearD(torch.zeros(2))
    loss = build_loss(LossConfig(loss="lsgan"))
    opt = torch.optim.SGD(D.parameters(), lr=1.0)
    for _ in range(300):
        d, _ = loss.d_loss(D, real, fake, None)
        opt.zero_grad()
        d.backward()
        opt.step()
    torch.testing.assert_close(D.w.detach(), torch.tensor([2 / 3, 1 / 3]))


def test_dragan_on_known_logits_matches_ns_plus_penalty():
    # Identity1D's input gradient is (1, 0, ...) per sample: ||grad|| = 1, penalty 0.
    dragan, ns = (build_loss(LossConfig(loss=n)) for n in ("dragan", "ns"))
    d, stats = dragan.d_loss(Identity1D(), REAL, FAKE, None)
    d_ns, stats_ns = ns.d_loss(Identity1D(), REAL, FAKE, None)
    assert stats["gp"].item() == pytest.approx(0.0, abs=1e-12)
    assert d.item() == pytest.approx(d_ns.item())
    assert {k: v.item() for k, v in stats.items() if k != "gp"} == pytest.approx(
        {k: v.item() for k, v in stats_ns.items()}
    )
    g, _ = dragan.g_loss(Identity1D(), FAKE, None)
    assert g.item() == pytest.approx(ns.g_loss(Identity1D(), FAKE, None)[0].item())


def test_dragan_on_a_linear_d_is_lambda_norm_minus_one_squared():
    # D(x) = x @ w has gradient w wherever the penalty looks: (||w|| - 1)^2 exactly.
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    w = torch.randn(16)
    D = LinearD(3 * w / w.norm())
    loss = build_loss(LossConfig(loss="dragan", gp_weight=5.0))
    d, stats = loss.d_loss(D, real, fake, None)
    assert stats["gp"].item() == pytest.approx(4.0, rel=1e-5)
    d_ns, _ = build_loss(LossConfig(loss="ns")).d_loss(D, real, fake, None)
    assert d.item() == pytest.approx(d_ns.item() + 5.0 * 4.0, rel=1e-5)
    d.backward()  # the penalty's gradient reaches w: d/dw 5 (||w|| - 1)^2 = 10 (||w|| - 1) w/||w||
    assert D.w.grad.norm().item() > 10 * 2 * 0.9


def test_dragan_perturbs_the_real_images_only_within_half_a_std():
    seen = []

    def D(x, labels=None):
        seen.append(x.detach().clone())
        return x.flatten(1).square().sum(1)

    real = torch.randn(16, 1, 4, 4)
    loss = build_loss(LossConfig(loss="dragan"))
    loss.generator = torch.Generator().manual_seed(3)
    loss.penalty(D, real, None)
    delta = seen[-1] - real
    assert (delta >= 0).all() and (delta <= 0.5 * real.std() + 1e-6).all()
    assert delta.flatten(1).std(1).min() > 0  # noise per pixel, not one shift per image
    # Seeded: the same generator state gives the same points.
    loss.generator = torch.Generator().manual_seed(3)
    loss.penalty(D, real, None)
    torch.testing.assert_close(seen[-1], seen[-2])


def test_dragan_checks_its_weight():
    with pytest.raises(GankitError, match="--gp-weight"):
        build_loss(LossConfig(loss="dragan", gp_weight=-1.0))
    assert build_loss(LossConfig(loss="dragan", gp_weight=3.0)).gp_weight == 3.0


@pytest.mark.parametrize("name", ["lsgan", "dragan"])
def test_a_tiny_training_run_with_the_new_objectives(name, tmp_path):
    from gankit import training
    from tests.support import tiny_config

    cfg = tiny_config(loss={"loss": name}, model={"d_norm": "layer"}, train={"steps": 3})
    result = training.train(cfg, tmp_path / "run", progress=False)
    assert result.step == 3 and result.checkpoint is not None
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert records and all("nan" not in line.lower() for line in records)
