"""Image-quality metrics on network features: FID, KID, precision/recall/density/coverage.

``METRICS`` names what is computed from two feature sets, each with a one-line
description; ``compare_sources`` is the whole comparison behind ``gankit fid``:
two sources -> features (references from the cache) -> the metrics asked for,
plus the protocol that produced them (network and sha1, resize, N per side,
reference split, seed), which every report states with the numbers.

The submodules each own one step: ``inception`` (network + preprocessing),
``sources`` (where images come from), ``features`` (extraction + reference
cache), and the maths, which does no I/O: ``frechet``, ``kid``, ``prdc``.
``score`` is the workflow evaluate, tune and reproduce share: a generator against
its dataset's reference split, with the cached reference features.
The classifier-based checks (``classifier``, ``classes``, ``memorization``,
``latent``) live beside them; see their own docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from gankit.errors import GankitError
from gankit.metrics import inception
from gankit.metrics.features import FeatureSet, source_features
from gankit.metrics.frechet import frechet_distance
from gankit.metrics.kid import SUBSET_SIZE, SUBSETS, kernel_inception_distance
from gankit.metrics.prdc import K_DC, K_PR
from gankit.metrics.prdc import prdc as prdc_metrics  # the name `prdc` stays the submodule
from gankit.metrics.sources import DatasetSource, GeneratorSource, Source, open_source
from gankit.registry import Registry


@dataclass(frozen=True)
class Metric:
    """A metric of two feature sets: ``compute(real, fake, seed, device) -> {name: value}``."""

    description: str
    compute: Callable[[FeatureSet, FeatureSet, int, torch.device], dict[str, float]]


METRICS: Registry[Metric] = Registry("metric")


def _fid(real: FeatureSet, fake: FeatureSet, seed: int, device: torch.device) -> dict:
    return {"fid": frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)}


def _kid(real: FeatureSet, fake: FeatureSet, seed: int, device: torch.device) -> dict:
    mean, std = kernel_inception_distance(real.features, fake.features, seed=seed)
    return {"kid_mean": mean, "kid_std": std}


def _prdc(real: FeatureSet, fake: FeatureSet, seed: int, device: torch.device) -> dict:
    return prdc_metrics(real.features, fake.features, device=device)


METRICS.register("fid")(
    Metric(
        "Frechet Inception Distance (Heusel et al. 2017) between Gaussian fits of the "
        "features; lower is better",
        _fid,
    )
)
METRICS.register("kid")(
    Metric(
        f"Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2, mean and std "
        f"over {SUBSETS} subsets; lower is better",
        _kid,
    )
)
METRICS.register("prdc")(
    Metric(
        f"precision/recall (Kynkaanniemi et al. 2019, k={K_PR}) and density/coverage "
        f"(Naeem et al. 2020, k={K_DC}); higher is better",
        _prdc,
    )
)


def compute_metrics(
    real: FeatureSet, fake: FeatureSet, names: list[str], *, seed: int = 0, device="cpu"
) -> dict[str, float]:
    """The metrics ``names`` (keys of ``METRICS``) of two feature sets, ``real`` the reference."""
    results: dict[str, float] = {}
    for name in names:
        results |= METRICS.get(name).compute(real, fake, seed, torch.device(device))
    return results


def compare_sources(
    a: str | Source,
    b: str | Source,
    *,
    n: int = 10_000,
    kid: bool = False,
    prdc: bool = False,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """FID (and optionally KID and PRDC) between ``n`` images of ``a`` and of ``b``.

    Args:
        a, b: sources, or what a user types for them (see ``sources.open_source``).
        n: images per side (dataset references are cached, see ``features``).
        kid, prdc: also compute those. PRDC's real side is the side that is
            not generated when exactly one is, else ``a``.
        batch_size: images per network call.
        device: where generation, the network and the distances run.
        seed: dataset subsets, generation seeds (image i: seed + i), KID subsets.

    Returns:
        {"fid": ..., ["kid_mean", "kid_std",] ["precision", "recall", "density",
        "coverage",] "protocol": {...}}.
    """
    if prdc and n <= K_DC:
        raise GankitError(
            f"--prdc needs more than {K_DC} images per side ({K_DC}-nearest-neighbour balls), "
            f"got --n {n} - use --n {K_DC + 1} or more"
        )
    device = torch.device(device)
    sources = [
        s if isinstance(s, Source) else open_source(s, seed=seed, device=device) for s in (a, b)
    ]
    net = inception.load_network(device)
    fa, fb = (
        source_features(s, n, batch_size=batch_size, device=device, net=net, progress=progress)
        for s in sources
    )
    generated = [isinstance(s, GeneratorSource) for s in sources]
    real = "b" if generated == [True, False] else "a"
    names = ["fid"] + ["kid"] * kid + ["prdc"] * prdc
    pair = (fb, fa) if real == "b" else (fa, fb)
    results = compute_metrics(*pair, names, seed=seed, device=device)
    results["protocol"] = _protocol(net, sources, (fa, fb), n, seed, names, real)
    return results


def _protocol(net, sources, feature_sets, n, seed, names, real) -> dict:
    sides = {
        side: {"source": fs.description, "n": fs.n, "cache": fs.cache}
        for side, fs in zip("ab", feature_sets)
    }
    reference = next(
        (
            {"spec": s.spec, "split": s.split, "n": n}
            for s in sources
            if isinstance(s, DatasetSource)
        ),
        None,
    )
    protocol = {
        "network": net.name,
        "network_sha1": net.sha1,
        "resize": inception.RESIZE,
        "preprocess": inception.PREPROCESS,
        **sides,
        "reference": reference,
        "seed": seed,
        "metrics": names,
    }
    if "kid" in names:
        protocol["kid"] = {"subsets": SUBSETS, "subset_size": min(SUBSET_SIZE, n)}
    if "prdc" in names:
        protocol["prdc"] = {"k_precision_recall": K_PR, "k_density_coverage": K_DC, "real": real}
    return protocol


__all__ = [
    "METRICS",
    "FeatureSet",
    "Metric",
    "Source",
    "compare_sources",
    "compute_metrics",
    "open_source",
    "source_features",
]
