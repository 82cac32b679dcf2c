"""Scoring a generator against its dataset: FID (and KID, PRDC) with the cached reference.

Owns the one workflow that ``gankit evaluate``, ``gankit tune`` and ``gankit
reproduce`` share, so that a score means the same in each: the split a generator
is judged against (``reference_split``: the test split, or train for an image
folder, which has none), the reference features of N images of it (computed once,
then read from the feature cache of ``features``), and the metrics of G's images
against them, image i generated from seed SEED + i. The seed also picks the
reference subset when N is less than the split. The network and its resize are
``inception``'s; the maths is ``METRICS``'; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gankit.config import DataConfig
from gankit.data import dataset_kind
from gankit.metrics import compute_metrics, inception
from gankit.metrics.features import FeatureSet, source_features
from gankit.metrics.sources import DatasetSource, GeneratorSource, Source


def reference_split(data: DataConfig) -> str:
    """The split generators of ``data`` are judged against: test, or train for an image folder."""
    return "train" if dataset_kind(data.dataset) == "folder" else "test"


def reference_source(data: DataConfig, split: str = "", seed: int = 0) -> DatasetSource:
    """The real side of a score (``split``: '' = ``reference_split``); nothing is loaded yet."""
    return DatasetSource(data, split or reference_split(data), seed)


@dataclass
class Scorer:
    """Scores generators against one reference, whose features are computed once.

    Attributes:
        reference: the real images (a dataset split).
        real: their features.
        net: the feature network both sides go through.
        seed: first generation seed (image i from seed + i); KID's subsets.
        batch_size: images per network call (the features do not depend on it).
        device: where generation, the network and the distances run.
    """

    reference: DatasetSource
    real: FeatureSet
    net: inception.Network
    seed: int = 0
    batch_size: int = 64
    device: str | torch.device = "cpu"

    def features(self, source: Source, n: int) -> FeatureSet:
        """Features of ``n`` images of any source through this scorer's network."""
        return source_features(
            source, n, batch_size=self.batch_size, device=self.device, net=self.net
        )

    def generated(self, G: torch.nn.Module, n: int, name: str = "generator") -> FeatureSet:
        """Features of G's images from seeds ``seed`` .. ``seed + n - 1`` (``name``: for reports)."""
        return self.features(GeneratorSource(G, name, self.seed), n)

    def compare(self, fake: FeatureSet, metrics: Sequence[str] = ("fid",)) -> dict[str, float]:
        """The ``metrics`` (keys of ``METRICS``) of features ``fake`` against the reference."""
        return compute_metrics(self.real, fake, list(metrics), seed=self.seed, device=self.device)

    def score(
        self, G: torch.nn.Module, n: int, metrics: Sequence[str] = ("fid",), name: str = "generator"
    ) -> dict[str, float]:
        """G's ``metrics`` from ``n`` generated images against the reference."""
        return self.compare(self.generated(G, n, name), metrics)


def reference_scorer(
    reference: DatasetSource,
    n_reference: int,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    net: inception.Network | None = None,
) -> Scorer:
    """A scorer against ``n_reference`` images of ``reference`` (see ``reference_source``).

    Args:
        reference: the real split; its seed picks the subset when ``n_reference`` is less
            than the split, and is the scorer's generation seed.
        n_reference: real images.
        batch_size, device: see ``Scorer``.
        net: a loaded network; default ``inception.load_network(device)``.

    Raises:
        GankitError: the split has fewer images, or the network is not installed.
    """
    reference.check(n_reference)  # before the network loads
    net = net or inception.load_network(device)
    real = source_features(reference, n_reference, batch_size=batch_size, device=device, net=net)
    return Scorer(reference, real, net, reference.seed, batch_size, device)
