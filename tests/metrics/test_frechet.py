"""The metric maths (FID, KID, PRDC) against independent formulas and hand-made cases."""

import numpy as np
import pytest
import scipy.linalg

from gankit.metrics.frechet import frechet_distance, mean_cov
from gankit.metrics.kid import kernel_inception_distance, mmd2_unbiased
from gankit.metrics.prdc import prdc

D = 24  # small feature width: the maths is the same as at 2048, and fast


# Correlated features, like a network's; every sample below comes from this one mixing.
MIX = np.random.default_rng(0).standard_normal((D, D)) / np.sqrt(D)


def _features(n, shift=0.0, scale=1.0, seed=0):
    return (np.random.default_rng(seed).standard_normal((n, D)) @ MIX) * scale + shift


def _fid_pytorch_fid(mu1, s1, mu2, s2, eps=1e-6):
    """pytorch-fid's formula: scipy sqrtm of the product, eps offset when singular."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s1)) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_mean_cov_is_numpys():
    x = _features(200).astype(np.float32)  # as the network gives them
    mu, sigma = mean_cov(x)
    assert mu.dtype == sigma.dtype == np.float64
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mu, x64.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sigma, np.cov(x64, rowvar=False), rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError):
        mean_cov(x[:1])


@pytest.mark.parametrize("n", [500, 12])  # 12 < D: singular covariances
def test_fid_matches_the_sqrtm_formula(n):
    a, b = _features(n, seed=1), _features(n, shift=0.3, scale=1.5, seed=2)
    (mu1, s1), (mu2, s2) = mean_cov(a), mean_cov(b)
    ours = frechet_distance(mu1, s1, mu2, s2)
    reference = _fid_pytorch_fid(mu1, s1, mu2, s2)
    assert ours == pytest.approx(reference, rel=1e-6)


def test_fid_of_a_distribution_with_itself_is_zero():
    mu, sigma = mean_cov(_features(300))
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_fid_closed_form_for_diagonal_gaussians():
    # Diagonal S1, S2: tr sqrt(S1 S2) = sum sqrt(s1_i s2_i), so
    # d^2 = |mu1 - mu2|^2 + sum (sqrt(s1_i) - sqrt(s2_i))^2.
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.standard_normal(D), rng.standard_normal(D)
    v1, v2 = rng.uniform(0.1, 3, D), rng.uniform(0.1, 3, D)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)


def _mmd2_loops(x, y):
    """Unbiased MMD^2 written as the textbook double sums."""
    d, m = x.shape[1], len(x)

    def k(a, b):
        return (a @ b / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_mmd2_matches_loops():
    x, y = _features(15, seed=4), _features(15, shift=0.5, seed=5)
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_loops(x, y), rel=1e-10)


def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift():
    a, b = _features(400, seed=6), _features(400, seed=7)
    same, same_std = kernel_inception_distance(a, b, subsets=10, subset_size=200)
    shifted, _ = kernel_inception_distance(a, b + 1.0, subsets=10, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 10 * max(abs(same), same_std)
    # Seeded: the same subsets each time.
    assert kernel_inception_distance(a, b, subsets=5, seed=1) == kernel_inception_distance(
        a, b, subsets=5, seed=1
    )


def test_prdc_identical_sets_and_far_apart_sets():
    x = _features(60, seed=8)
    same = prdc(x, x.copy())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = prdc(x, x + 1000.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_hand_made_case():
    # Real points 0, 1, 2, ..., 9 on a line; with k = 1 each ball has radius 1 (strict <).
    real = np.arange(10.0)[:, None]
    fake = np.array([[0.5], [4.2], [20.0]])
    r = prdc(real, fake, k_pr=1, k_dc=1)
    assert r["precision"] == pytest.approx(2 / 3)  # 20 lies outside every ball
    # 0.5 lies in the balls of 0 and 1; 4.2 in those of 4 and 5 -> (2 + 2 + 0) / 3.
    assert r["density"] == pytest.approx(4 / 3)
    assert r["coverage"] == pytest.approx(4 / 10)  # reals 0, 1, 4 and 5 hold a fake


def test_prdc_chunked_equals_unchunked():
    real, fake = _features(150, seed=9), _features(130, shift=0.4, seed=10)
    whole = prdc(real, fake, chunk=10_000)
    assert prdc(real, fake, chunk=7) == whole
    assert 0 < whole["precision"] < 1 and 0 < whole["recall"] < 1


def test_kid_subsets_vary_even_when_the_sides_are_small():
    # Subsets as large as a side would all be the same set: std 0 told nothing (a bug).
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 8)), rng.normal(0.5, 1.0, size=(40, 8))
    _, std = kernel_inception_distance(a, b, subsets=20, subset_size=1000, seed=0)
    assert std > 0
