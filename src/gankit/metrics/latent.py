"""Pictures of a generator's latent space: walks within a class, and a 2-D map of its images.

Owns seed 001's latent-space figures: interpolation grids (rows = classes,
columns = steps along the great circle between two seeds' noise, as in
Radford et al. 2015's walks; slerp after White 2016), and a 2-D embedding of
generated images' features coloured by the label they were generated for
(seed 001's "clustering picture", where classes did not separate clearly).
The embedding is PCA (exact, from the covariance's eigenvectors) or t-SNE
(van der Maaten & Hinton 2008), a small exact O(N^2) version in torch with the
usual settings (perplexity 30, early exaggeration 12 for 250 steps, momentum
0.5 -> 0.8, gains), meant for a few thousand points at most; it is a picture,
not a metric. The features are the caller's (classifier or Inception).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.images import save_grid
from gankit.metrics.classes import new_figure, save_figure
from gankit.sampling import generate, interpolation_inputs

EMBEDDINGS = ("pca", "tsne")


def interpolation_grid(
    G: nn.Module,
    *,
    seed_a: int = 0,
    seed_b: int = 1,
    steps: int = 8,
    labels: Sequence[int] | None = None,
) -> torch.Tensor:
    """Walks from seed_a's noise to seed_b's, one row per label -> uint8 [rows * steps, C, H, W].

    Every row uses the same noise path, so rows differ only by the label. A
    conditional G gets one row per label in ``labels`` (default: every class);
    an unconditional G gets one row. Save with ``save_grid(images, path, nrow=steps)``.
    """
    if steps < 2:
        raise GankitError(f"an interpolation needs at least 2 steps, got {steps}")
    z = interpolation_inputs(seed_a, seed_b, steps, G.z_dim)
    if not G.conditional:
        if labels:
            raise GankitError("this generator is unconditional - interpolate without labels")
        return generate(G, z)
    rows = list(range(G.num_classes)) if labels is None else [int(y) for y in labels]
    bad = [y for y in rows if not 0 <= y < G.num_classes]
    if bad:
        raise GankitError(f"label {bad[0]} is out of range (0-{G.num_classes - 1})")
    y = torch.tensor(rows).repeat_interleave(steps)
    return generate(G, z.repeat(len(rows), 1), y)


def save_interpolation_grid(G: nn.Module, path: str | Path, *, steps: int = 8, **kwargs) -> Path:
    """``interpolation_grid`` written as one PNG (rows = labels, columns = steps)."""
    return save_grid(interpolation_grid(G, steps=steps, **kwargs), path, nrow=steps)


def _as_2d(features: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(features)
    return x.reshape(len(x), -1).double()


def pca_2d(features: torch.Tensor | np.ndarray, dims: int = 2) -> torch.Tensor:
    """Projection of features [N, D] on their top ``dims`` principal axes -> float32 [N, dims].

    Exact and deterministic: eigenvectors of the float64 covariance (D x D), each
    axis signed so its largest loading is positive.
    """
    x = _as_2d(features)
    x = x - x.mean(0)
    _, vectors = torch.linalg.eigh(x.T @ x)  # eigenvalues ascending
    axes = vectors[:, -dims:].flip(1)
    signs = axes.gather(0, axes.abs().argmax(0, keepdim=True)).sign()
    axes = axes * torch.where(signs == 0, 1.0, signs)
    out = (x @ axes).float()
    if out.shape[1] < dims:  # fewer features than dims: pad with zeros
        out = torch.cat([out, out.new_zeros(len(out), dims - out.shape[1])], 1)
    return out


def _affinities(d2: torch.Tensor, perplexity: float, steps: int = 64) -> torch.Tensor:
    """t-SNE's conditional p_j|i: a Gaussian per row whose perplexity matches, by bisection."""
    n = len(d2)
    off = ~torch.eye(n, dtype=torch.bool)
    d2 = d2 / d2[off].median().clamp(min=1e-12)  # scale-free start for beta = 1
    d2 = (d2 - torch.where(off, d2, math.inf).min(1, keepdim=True).values).clamp(min=0) * off
    target = math.log(perplexity)
    beta = torch.ones(n, 1, dtype=d2.dtype)
    lo, hi = torch.zeros_like(beta), torch.full_like(beta, math.inf)
    for _ in range(steps):
        p = torch.exp(-d2 * beta) * off
        total = p.sum(1, keepdim=True)
        entropy = total.log() + beta * (p * d2).sum(1, keepdim=True) / total
        too_flat = entropy > target  # too wide a Gaussian: raise beta
        lo, hi = torch.where(too_flat, beta, lo), torch.where(too_flat, hi, beta)
        beta = torch.where(hi.isinf(), beta * 2, (lo + hi) / 2)
    p = torch.exp(-d2 * beta) * off
    return p / p.sum(1, keepdim=True)


def tsne_2d(
    features: torch.Tensor | np.ndarray,
    *,
    perplexity: float = 30.0,
    iterations: int = 750,
    seed: int = 0,
) -> torch.Tensor:
    """Exact t-SNE of features [N, D] -> float32 [N, 2]; O(N^2) memory and time per step.

    Features are first reduced to 50 PCA dimensions (as is usual); the start is
    the PCA map scaled to std 1e-4 plus tiny noise from ``seed``, so results repeat.
    """
    x = _as_2d(features)
    n = len(x)
    if n < 5:
        return pca_2d(x)
    x = pca_2d(x, dims=min(50, x.shape[1])).double()
    p = _affinities(torch.cdist(x, x).pow(2), min(perplexity, (n - 1) / 3))
    p = ((p + p.T) / (2 * n)).clamp(min=1e-12).float()  # float32 from here: twice as fast
    gen = torch.Generator().manual_seed(seed)
    y = (x[:, :2] / x[:, :1].std().clamp(min=1e-12) * 1e-4).float()
    y = y + 1e-6 * torch.randn(n, 2, generator=gen)
    velocity, gains = torch.zeros_like(y), torch.ones_like(y)
    lr = max(n / 12 / 4, 50.0)  # the "auto" learning rate of openTSNE / scikit-learn
    for step in range(iterations):
        early = step < 250
        num = 1 / (1 + torch.cdist(y, y).pow(2))  # Student-t kernel of the map
        num.fill_diagonal_(0)
        q = (num / num.sum()).clamp(min=1e-12)
        pq = ((12.0 if early else 1.0) * p - q) * num
        grad = 4 * (pq.sum(1, keepdim=True) * y - pq @ y)  # sum_j pq_ij (y_i - y_j)
        same = (grad > 0) == (velocity > 0)
        gains = torch.where(same, gains * 0.8, gains + 0.2).clamp(min=0.01)
        velocity = (0.5 if early else 0.8) * velocity - lr * gains * grad
        y = y + velocity
    return (y - y.mean(0)).float()


def embed_2d(features: torch.Tensor | np.ndarray, method: str = "pca", seed: int = 0):
    """2-D map of features [N, D] by ``method`` ("pca" or "tsne") -> float32 [N, 2]."""
    if method == "pca":
        return pca_2d(features)
    if method == "tsne":
        return tsne_2d(features, seed=seed)
    raise GankitError(f"unknown embedding {method!r} (valid: {', '.join(EMBEDDINGS)})")


def plot_embedding(
    points: torch.Tensor,
    labels: torch.Tensor | None,
    class_names: Sequence[str],
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """Scatter plot of 2-D ``points`` [N, 2], coloured by ``labels`` [N] with a legend of names."""
    xy = torch.as_tensor(points).float().cpu().numpy()
    fig = new_figure(7.0, 6.0)
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.6)
    else:
        y = torch.as_tensor(labels).cpu().numpy()
        k = max(len(class_names), int(y.max()) + 1 if len(y) else 0)
        cmap = _colormap(k)
        for c in range(k):
            pick = y == c
            if pick.any():
                name = class_names[c] if c < len(class_names) else str(c)
                ax.scatter(xy[pick, 0], xy[pick, 1], s=6, alpha=0.6, color=cmap(c), label=name)
        ax.legend(loc="best", fontsize=7, markerscale=2, framealpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{len(xy)} generated images")
    return save_figure(fig, path)


def _colormap(k: int):
    from matplotlib import colormaps

    return colormaps["tab10" if k <= 10 else "tab20"]
