"""DiffAugment: differentiable, seeded, shard-exact, and each operation does what it says."""

import pytest
import torch

from gankit.errors import GankitError
from gankit.training.diffaugment import (
    AUGMENTS,
    AdaptiveStrength,
    Augmented,
    DiffAugment,
    cutout,
    parse_policy,
    translation,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(n=6, c=3, size=16, seed=1):
    return torch.rand(n, c, size, size, generator=_gen(seed)) * 2 - 1


def test_translation_shifts_whole_images_with_zeros_coming_in():
    x = torch.arange(1, 65, dtype=torch.float32).view(1, 1, 8, 8).repeat(50, 1, 1, 1)
    out = translation(x, _gen(), (0, 1))
    for img, shifted in zip(x, out):
        # Find the shift that explains the output: one of the (2*1+1)^2 integer shifts.
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if torch.equal(shifted[0], _shift(img[0], dy, dx))
        ]
        assert len(matches) == 1
    assert (out == 0).any() and not torch.equal(out, x)


def _shift(img, dy, dx):
    out = torch.zeros_like(img)
    h, w = img.shape
    for r in range(h):
        for c in range(w):
            if 0 <= r - dy < h and 0 <= c - dx < w:
                out[r, c] = img[r - dy, c - dx]
    return out


def test_cutout_zeroes_one_square_of_half_the_side():
    x = torch.ones(40, 1, 16, 16)
    out = cutout(x, _gen(), (0, 1))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    # 8 x 8 when the square lies inside, less when it is clipped at an edge.
    assert zeros.max() == 64 and (zeros > 0).all() and (zeros <= 64).all()
    for img in out[:, 0]:
        rows, cols = torch.nonzero(img == 0, as_tuple=True)
        assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


@pytest.mark.parametrize("names", [["translation"], ["cutout"], ["color", "translation", "cutout"]])
def test_gradients_flow_through_every_operation(names):
    x = _batch().requires_grad_(True)
    out = DiffAugment(names, p=1.0, generator=_gen())(x)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_p_zero_is_the_identity_and_draws_advance_alike():
    x = _batch()
    g0, g1 = _gen(), _gen()
    assert torch.equal(DiffAugment(["translation", "cutout"], p=0.0, generator=g0)(x), x)
    DiffAugment(["translation", "cutout"], p=1.0, generator=g1)(x)
    assert torch.equal(g0.get_state(), g1.get_state())


def test_same_generator_state_same_augmentation():
    x = _batch()
    a = DiffAugment(["color", "translation", "cutout"], p=0.5, generator=_gen(3))(x)
    b = DiffAugment(["color", "translation", "cutout"], p=0.5, generator=_gen(3))(x)
    assert torch.equal(a, b)


def test_two_shards_draw_what_one_process_draws():
    x = _batch(n=8)
    names = ["color", "translation", "cutout"]
    whole = DiffAugment(names, p=0.7, generator=_gen(5), shard=(0, 1))(x)
    halves = [
        DiffAugment(names, p=0.7, generator=_gen(5), shard=(rank, 2))(x[rank * 4 : rank * 4 + 4])
        for rank in (0, 1)
    ]
    assert torch.equal(torch.cat(halves), whole)


def test_augmented_d_sees_augmented_images():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x, labels=None):
            seen.append(x)
            return x.mean(dim=(1, 2, 3))

    x = _batch()
    Augmented(Probe(), DiffAugment(["cutout"], p=1.0, generator=_gen()))(x)
    assert not torch.equal(seen[0], x) and (seen[0] == 0).any()


def test_bad_policies_are_one_line():
    with pytest.raises(GankitError, match="unknown augmentation 'cutot' - did you mean 'cutout'"):
        parse_policy("translation,cutot", channels=1)
    with pytest.raises(GankitError, match="needs colour images"):
        parse_policy("color", channels=1)
    assert parse_policy("", channels=1) == []
    assert parse_policy(" translation , cutout ", channels=3) == ["translation", "cutout"]
    assert set(AUGMENTS.names()) == {"translation", "cutout", "color"}


def test_adaptive_strength_moves_p_towards_the_target_and_round_trips():
    aug = DiffAugment(["translation"], p=0.0, generator=_gen())
    ada = AdaptiveStrength(aug, target=0.6, speed_images=1000, interval_steps=4, batch_size=50)
    for _ in range(4):  # D is sure of every real image: overfitting, p goes up by 4*50/1000
        ada.observe(torch.tensor(1.0))
    assert aug.p.item() == pytest.approx(0.2)
    for _ in range(2):
        ada.observe(torch.tensor(-1.0))
    state = ada.state_dict()
    other = AdaptiveStrength(
        DiffAugment(["translation"], p=0.0, generator=_gen()),
        target=0.6,
        speed_images=1000,
        interval_steps=4,
        batch_size=50,
    )
    other.load_state_dict(state)
    for a in (ada, other):
        for _ in range(2):
            a.observe(torch.tensor(-1.0))
    # Four signs of -1 in the interval: below the target, p goes back down to 0.
    assert aug.p.item() == pytest.approx(0.0) and other.augment.p.item() == pytest.approx(0.0)
    for _ in range(400):
        ada.observe(torch.tensor(1.0))
    assert aug.p.item() == 1.0  # clamped
