"""Latent pictures: interpolation grids per class, PCA / t-SNE maps and their scatter plot."""

from __future__ import annotations

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.latent import (
    embed_2d,
    interpolation_grid,
    pca_2d,
    plot_embedding,
    save_interpolation_grid,
    tsne_2d,
)
from gankit.sampling import generate, noise
from tests.metrics.test_classes import PNG, tiny_generator


def test_interpolation_grid_rows_are_classes(tmp_path):
    G = tiny_generator()
    grid = interpolation_grid(G, seed_a=3, seed_b=4, steps=5)
    assert grid.shape == (15, 1, 16, 16) and grid.dtype == torch.uint8
    ends = generate(G, noise([3, 4, 3, 4], G.z_dim), torch.tensor([0, 0, 2, 2]))
    assert torch.equal(grid[[0, 4, 10, 14]], ends)  # each row runs from seed 3 to seed 4
    assert interpolation_grid(G, steps=3, labels=[1]).shape == (3, 1, 16, 16)
    assert interpolation_grid(tiny_generator(conditional=False), steps=4).shape[0] == 4
    path = save_interpolation_grid(G, tmp_path / "walk.png", steps=4, labels=[0, 2])
    assert path.read_bytes()[:8] == PNG
    with pytest.raises(GankitError, match="out of range"):
        interpolation_grid(G, labels=[3])
    with pytest.raises(GankitError, match="at least 2 steps"):
        interpolation_grid(G, steps=1)


def test_pca_finds_the_main_axis():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(100, 1, generator=g)
    direction = torch.tensor([[1.0, 2.0, 0.0, -2.0, 0.0]]) / 3
    x = 5 + t * direction * 10 + 0.01 * torch.randn(100, 5, generator=g)
    xy = pca_2d(x)
    assert xy.shape == (100, 2) and xy.dtype == torch.float32
    assert abs(torch.corrcoef(torch.stack([xy[:, 0], t[:, 0]]))[0, 1]) > 0.999
    assert xy[:, 1].std() < 0.05 and xy.mean(0).abs().max() < 1e-4
    assert torch.equal(pca_2d(x), xy)  # deterministic, signs fixed


def test_tsne_separates_clusters():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    x = torch.randn(60, 10, generator=g) + 8 * torch.eye(10)[labels]
    xy = tsne_2d(x)
    centres = torch.stack([xy[labels == c].mean(0) for c in range(3)])
    nearest = torch.cdist(xy, centres).argmin(1)
    assert xy.shape == (60, 2) and torch.equal(nearest, labels)
    assert torch.equal(embed_2d(x, "tsne"), xy)  # seeded: repeatable
    with pytest.raises(GankitError, match="valid: pca, tsne"):
        embed_2d(x, "umap")


def test_embedding_plot_is_written(tmp_path):
    xy = torch.randn(30, 2)
    labels = torch.arange(30) % 3
    path = plot_embedding(xy, labels, ["a", "b", "c"], tmp_path / "pca.png", title="PCA")
    assert path.read_bytes()[:8] == PNG
    assert plot_embedding(xy, None, [], tmp_path / "plain.png").read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca.png", "plain.png"]
