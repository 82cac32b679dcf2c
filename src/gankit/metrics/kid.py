"""Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel; no I/O.

KID (Bińkowski et al. 2018, "Demystifying MMD GANs") is the squared maximum
mean discrepancy between two feature sets under the kernel

    k(x, y) = (x . y / d + 1)^3        (d = feature dimension)

estimated without bias on random subsets, reported as the mean and standard
deviation over the subsets. Defaults follow torch-fidelity and clean-fid: 100
subsets of min(1000, n) features per side, drawn without replacement; the
standard deviation is the population one (ddof = 0), as torch-fidelity's.
"""

from __future__ import annotations

import numpy as np

SUBSETS = 100
SUBSET_SIZE = 1000


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x_i, y_j) = (x_i . y_j / d + 1)^3 for all pairs -> [len(x), len(y)]."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate between samples x [m, d] and y [m, d] (equal sizes).

    Within-set sums leave out the diagonal (k(x_i, x_i) is not a sample of
    E k(x, x')); the cross term uses all m^2 pairs, which are independent.
    """
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    *,
    subsets: int = SUBSETS,
    subset_size: int = SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """KID as (mean, std) of unbiased MMD^2 over random subsets.

    Args:
        features1, features2: [n1, d] and [n2, d] features.
        subsets: how many subsets to average over.
        subset_size: features per side in each subset, capped at half of min(n1, n2).
        seed: seeds the numpy Generator that draws the subsets.
    """
    x_all = np.asarray(features1, dtype=np.float64)
    y_all = np.asarray(features2, dtype=np.float64)
    # Subsets as large as a whole side would all be the same set (std 0): cap them at half.
    m = min(subset_size, max(2, min(len(x_all), len(y_all)) // 2))
    if m < 2 or x_all.shape[1] != y_all.shape[1]:
        raise ValueError(
            f"KID needs >= 2 features of equal width, got {x_all.shape}, {y_all.shape}"
        )
    rng = np.random.default_rng(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        mmds[i] = mmd2_unbiased(x, y)
    return float(mmds.mean()), float(mmds.std())
