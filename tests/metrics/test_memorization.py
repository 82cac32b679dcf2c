"""Memorisation: chunked nearest neighbours, the calibrated share, the neighbour picture."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from gankit.metrics.memorization import (
    memorization_check,
    nearest_neighbours,
    save_neighbour_picture,
    typical_nn_distance,
)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_chunked_equals_unchunked_and_brute_force():
    q, r = randn(37, 5, seed=1), randn(101, 5, seed=2)
    d_big, i_big = nearest_neighbours(q, r, 4)
    d_small, i_small = nearest_neighbours(q, r, 4, query_chunk=7, reference_chunk=10)
    d_tiny, i_tiny = nearest_neighbours(q, r, 4, query_chunk=1, reference_chunk=3)
    brute = torch.cdist(q.double(), r.double()).topk(4, dim=1, largest=False)
    for d, i in ((d_big, i_big), (d_small, i_small), (d_tiny, i_tiny)):
        assert torch.equal(i, brute.indices)
        assert torch.allclose(d.double(), brute.values, atol=1e-5)
        assert (d[:, 1:] >= d[:, :-1]).all()  # ascending
    with pytest.raises(ValueError):
        nearest_neighbours(q, r[:3], 4)


def test_flattens_images_and_accepts_numpy():
    x = torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8)
    d, i = nearest_neighbours(x.numpy(), x, 1)
    assert i[:, 0].tolist() == list(range(6)) and d.abs().max() == 0


def test_exact_copies_share_one_far_away_share_zero():
    train = randn(300, 8)
    copies = memorization_check(train[:20], train, k=3, holdout=100)
    assert copies.share == 1.0 and copies.indices[:, 0].tolist() == list(range(20))
    assert copies.distances[:, 0].max() == 0 < copies.threshold
    assert copies.n_generated == 20 and copies.n_train == 300 and copies.n_holdout == 100
    far = memorization_check(randn(20, 8, seed=5) + 100, train, holdout=100)
    assert far.share == 0.0
    # New draws of the same distribution: about `quantile` of them pass the threshold.
    fresh = memorization_check(randn(400, 8, seed=7), train, holdout=100, quantile=0.25)
    assert 0.05 < fresh.share < 0.6


def test_threshold_is_the_quantile_of_held_out_distances():
    train = randn(200, 4)
    low, held = typical_nn_distance(train, quantile=0.05, holdout=50)
    high, _ = typical_nn_distance(train, quantile=0.5, holdout=50)
    assert len(held) == 50 and low < high
    assert high == pytest.approx(float(held.double().median()), rel=0.05)
    assert typical_nn_distance(train[:6], holdout=1000)[1].shape == (3,)  # at most half


def test_neighbour_picture(tmp_path):
    gen = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    train = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    indices = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]])
    path = save_neighbour_picture(gen, train, indices, tmp_path / "nn.png", max_rows=2)
    with Image.open(path) as image:
        width, height = image.size
    # 2 rows of 1 generated + gap + 4 neighbours, 8 px cells with 2 px padding, upscaled alike.
    assert width * (2 * 10 + 2) == height * (6 * 10 + 2)
    assert [p.name for p in tmp_path.iterdir()] == ["nn.png"]
