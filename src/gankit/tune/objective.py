"""What a study minimises: the metrics a trial can be judged by, and when each applies.

Owns the ``OBJECTIVES`` registry, the choice of a default (the dataset
classifier's FID for labelled data, Inception FID otherwise), warming the caches
a metric needs once in the main process (the classifier is trained, the
reference features computed, before any worker starts), and building the
callable a trial evaluates its generator with. The metric code itself lives in
``gankit.metrics`` (Inception FID: ``metrics.score``, as ``gankit evaluate`` and
``gankit reproduce`` measure it); nothing is re-implemented here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.registry import Registry

# (G, step) -> {objective first, then others}; step is the training step G is at.
Metric = Callable[[nn.Module, int], dict[str, float]]


@dataclass(frozen=True)
class Objective:
    name: str
    description: str  # what the value is, for reports ({n} = images per side)
    labelled_only: bool
    direction: str = "minimize"


OBJECTIVES: Registry[Objective] = Registry("objective")
for _obj in (
    Objective(
        "classifier_fid",
        "Frechet distance in the feature space of the dataset's own classifier between "
        "{n} generated images (fixed seeds) and {n} real held-out images (lower is better)",
        labelled_only=True,
    ),
    Objective(
        "fid",
        "Inception FID (TF Inception-v3 pool3) between {n} generated images (seeds 0 to {last}) "
        "and {n} real images of the {split} split (lower is better)",
        labelled_only=False,
    ),
):
    OBJECTIVES.register(_obj.name)(_obj)


def choose(name: str | None, cfg: Config) -> Objective:
    """The objective called ``name`` (None: the default for ``cfg``), checked to apply.

    ``cfg`` is the base config completed from the data (``class_names`` filled in).
    """
    labelled = bool(cfg.data.class_names)
    obj = OBJECTIVES.get(name or ("classifier_fid" if labelled else "fid"))
    if obj.labelled_only and not labelled:
        raise GankitError(
            f"--objective {obj.name} judges images with the dataset's classifier, but "
            f"{cfg.data.dataset} has no labels in this config - use --objective fid"
        )
    return obj


def sample_size(obj: Objective, cfg: Config) -> int:
    """Images per side of each evaluation: ``log.eval_samples``, capped by the real images."""
    if obj.name == "classifier_fid":
        from gankit.metrics.classifier import labelled_splits

        available = len(labelled_splits(cfg.data)[1].images)
    else:
        from gankit.metrics.score import reference_source

        available = reference_source(cfg.data).size
    n = min(cfg.log.eval_samples, available)
    if n < 2:
        raise GankitError(
            f"--objective {obj.name} needs at least 2 images per side, got {n} - raise "
            "--eval-samples (or use a dataset with more images)"
        )
    return n


def describe(obj: Objective, cfg: Config) -> str:
    """The objective's line in a report, with N and the split filled in."""
    from gankit.metrics.score import reference_split

    n = sample_size(obj, cfg)
    return obj.description.format(n=n, last=n - 1, split=reference_split(cfg.data))


def warm_up(obj: Objective, cfg: Config, device: torch.device, say) -> None:
    """Trains the classifier or computes the reference features now, once, into the cache.

    Done before any trial starts, so that parallel workers only read the cache.
    """
    if obj.name == "classifier_fid":
        from gankit.metrics.classifier import cached_classifier_info, load_or_train_classifier

        if cached_classifier_info(cfg.data)[1] is None:
            say(f"training the {cfg.data.dataset} classifier once (cached for later studies) ...")
        load_or_train_classifier(cfg.data, device=device)
    else:  # a missing network is an error now, not in every trial
        _inception_scorer(obj, cfg, device)


def build(obj: Objective, cfg: Config, device: torch.device) -> Metric:
    """The trial's evaluation: (G, step) -> {objective: value, ...}, the objective first.

    The training loop keeps the checkpoint with the best first metric (in the
    objective's ``direction``) as ``best``, so a trial's run marks the generator its
    value came from.
    """
    if obj.name == "classifier_fid":
        from gankit.metrics.monitor import training_monitor

        return training_monitor(cfg, device, say=lambda line: None)
    scorer, n = _inception_scorer(obj, cfg, device), sample_size(obj, cfg)

    def evaluate(G: nn.Module, step: int) -> dict[str, float]:
        # G's images from seeds 0 .. n-1 against n reference images: {"fid": value}.
        return scorer.score(G, n, name="trial")

    return evaluate


def _inception_scorer(obj: Objective, cfg: Config, device: torch.device):
    """Inception FID's scorer: the network and the reference features, from the cache."""
    from gankit.metrics.score import reference_scorer, reference_source

    return reference_scorer(reference_source(cfg.data), sample_size(obj, cfg), device=device)
