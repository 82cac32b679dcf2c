"""The Fréchet distance between Gaussians fitted to features (FID's maths); no I/O.

FID (Heusel et al. 2017) is the Fréchet (2-Wasserstein) distance between two
Gaussians N(mu1, S1) and N(mu2, S2) fitted to network features:

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

Everything is float64. The trace of the matrix square root is computed from
eigenvalues, tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(A S2 A)) with A = S1^(1/2):
A S2 A is symmetric positive semi-definite and has the same eigenvalues as
S1 S2, so there is no complex part to discard and no singular-matrix fallback
to need (pytorch-fid's ``scipy.linalg.sqrtm(S1 @ S2)`` with an eps offset is the
other common route; the tests check the two agree to 1e-6 relative).
"""

from __future__ import annotations

import numpy as np


def mean_cov(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and unbiased covariance [d, d] (divided by N - 1) of features [N, d], in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need features [N >= 2, d], got shape {x.shape}")
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = xc.T @ xc / (len(x) - 1)  # as np.cov(x, rowvar=False), without its extra copies
    return mu, sigma


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance; rounding's tiny negative eigenvalues become 0."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for covariance matrices S1, S2 (see the module docstring)."""
    a = _psd_sqrt(sigma1)
    m = a @ sigma2 @ a
    m = (m + m.T) / 2  # exactly symmetric, so eigvalsh sees the matrix it is promised
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(m), 0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """The squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), i.e. FID."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(
            f"mismatched statistics: mu {mu1.shape} / {mu2.shape}, "
            f"sigma {sigma1.shape} / {sigma2.shape}"
        )
    diff = mu1 - mu2
    covariance_term = np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    # Rounding can take a distance of ~0 a hair below zero; a distance is never negative.
    return max(float(diff @ diff + covariance_term), 0.0)
