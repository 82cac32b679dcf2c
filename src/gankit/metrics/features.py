"""Feature sets for metrics, with an on-disk cache for dataset references.

Owns: running a ``Source`` through the feature network into a ``FeatureSet``
(features, mean, covariance), and caching those of reference datasets so that
a second evaluation against the same reference computes only the generated
side (StyleGAN's ``fid50k_full`` reference cache; torch-fidelity's).

The cache lives in ``cache_root()/features`` (``$GANKIT_CACHE/features``, else
``$XDG_CACHE_HOME/gankit/features``, else ``~/.cache/gankit/features``), one
safetensors file per reference: the features as float32 (the network's own
precision, so nothing is lost) for KID and PRDC, mean and covariance as float64,
and the full protocol key as JSON in the file's metadata. The file name hashes
that key: dataset, split, N, subset seed (when N is less than the split),
image size and channels, the network's sha1, the preprocessing version and this
file's format version; a change to any of them computes afresh. Files are
written to a temporary name and renamed, so a crash never leaves half of one.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.data.cache import cache_root, load_tensors, save_tensors
from gankit.errors import GankitError
from gankit.metrics import inception
from gankit.metrics.frechet import mean_cov
from gankit.metrics.inception import inception_features
from gankit.metrics.sources import Source

FORMAT = "gankit-features"
VERSION = 1  # bump when what the cache holds changes


@dataclass
class FeatureSet:
    """Features of ``n`` images of one source, and their Gaussian statistics.

    Attributes:
        features: float64 [n, dim] network features.
        mu: float64 [dim] mean; sigma: float64 [dim, dim] unbiased covariance.
        description: one line saying what the images are (for reports).
        cache: "" (not cacheable), "hit" (read from cache) or the path written.
    """

    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    description: str
    cache: str = ""

    @property
    def n(self) -> int:
        return len(self.features)


def features_root() -> Path:
    """Where reference features are cached (not created)."""
    return cache_root() / "features"


def cache_path(key: dict) -> Path:
    """The cache file for a full protocol key (readable prefix + hash of the key)."""
    text = json.dumps(key, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return features_root() / f"{key['dataset']}-{key['split']}-{key['n']}-{digest}.safetensors"


def source_features(
    source: Source,
    n: int,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    net: inception.Network | None = None,
    progress: bool = False,
) -> FeatureSet:
    """Features of ``n`` images from ``source``; dataset references come from the cache.

    Args:
        source: where the images come from (``sources.open_source``).
        n: how many images (at least 2: a covariance needs two).
        batch_size: images per network call (the features do not depend on it).
        device: where the network runs.
        net: a loaded network; default ``inception.load_network(device)``.
        progress: a progress bar on stderr when it is a terminal.

    Raises:
        GankitError: ``n`` < 2, or more images than ``source`` has.
    """
    if n < 2:
        raise GankitError(f"--n must be at least 2 (a covariance needs two images), got {n}")
    source.check(n)
    net = net or inception.load_network(device)
    key = source.reference_key(n)
    if key is not None:
        key = key | {
            "network_sha1": net.sha1,
            "preprocess": inception.PREPROCESS,
            "format": f"{FORMAT}-{VERSION}",
        }
        cached = _read(cache_path(key), key, source.describe(n))
        if cached is not None:
            return cached
    feats = inception_features(
        source.batches(n, batch_size), net.device, batch_size, n=n, net=net, progress=progress
    )
    mu, sigma = mean_cov(feats)
    result = FeatureSet(feats, mu, sigma, source.describe(n))
    if key is not None:
        result.cache = _write(cache_path(key), key, result)
    return result


def _read(path: Path, key: dict, description: str) -> FeatureSet | None:
    """The cached feature set for ``key``, or None when absent, damaged or not for this key."""
    loaded = load_tensors(path)
    if loaded is None:
        return None
    tensors, metadata = loaded
    if metadata.get("format") != FORMAT or metadata.get("key") != json.dumps(key, sort_keys=True):
        return None
    try:
        feats, mu, sigma = tensors["features"], tensors["mu"], tensors["sigma"]
    except KeyError:
        return None
    n, dim = key["n"], mu.shape[0] if mu.ndim == 1 else -1
    if feats.shape != (n, dim) or sigma.shape != (dim, dim):
        return None
    return FeatureSet(feats.double().numpy(), mu.numpy(), sigma.numpy(), description, cache="hit")


def _write(path: Path, key: dict, fs: FeatureSet) -> str:
    tensors = {
        "features": torch.from_numpy(fs.features.astype(np.float32)),
        "mu": torch.from_numpy(fs.mu),
        "sigma": torch.from_numpy(fs.sigma),
    }
    metadata = {
        "format": FORMAT,
        "key": json.dumps(key, sort_keys=True),
        "description": fs.description,
    }
    try:
        save_tensors(path, tensors, metadata)
    except OSError as e:  # a read-only or full disk costs time next run, nothing else
        warnings.warn(f"could not cache reference features in {path} ({e})", stacklevel=3)
        return ""
    return str(path)
