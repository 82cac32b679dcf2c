"""Cheap metrics while training: classifier FID and the class histogram's entropy.

``training_monitor`` returns the callable that ``gankit train --eval-every N``
hands to the training loop. It needs a labelled dataset (the dataset's own
classifier, trained once and cached); Inception FID is left to
``gankit evaluate`` because it is far too slow to run every few minutes on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.metrics.classes import class_histogram, classify_generated
from gankit.metrics.classifier import labelled_splits, load_or_train_classifier


class ClassifierMonitor:
    """G, step -> {classifier_fid, class_entropy} on fixed seeds; the ``evaluate`` of the loop.

    Classifier FID comes first, so it picks the ``best`` checkpoint: lower is better.
    """

    higher_is_better = False

    def __init__(self, classifier: nn.Module, cfid, n: int):
        self.classifier, self.cfid, self.n = classifier, cfid, n

    def __call__(self, G: nn.Module, step: int) -> dict[str, float]:
        # Fixed seeds: the same noise at every evaluation, so changes come from G alone.
        preds = classify_generated(self.classifier, G, self.n, seed=10_000_000)
        hist = class_histogram(preds.logits)
        return {
            "classifier_fid": self.cfid.from_features(preds.features),
            "class_entropy": hist.entropy,
        }


def training_monitor(cfg: Config, device: torch.device, say=print) -> ClassifierMonitor:
    """The evaluation callable for ``cfg``'s run (see ``ClassifierMonitor``)."""
    from gankit.metrics.classes import ClassifierFID

    if not cfg.data.class_names:
        raise GankitError(
            "--eval-every uses the dataset's classifier, so it needs a labelled dataset - "
            "drop --eval-every and use gankit evaluate RUN (Inception FID) afterwards"
        )
    say(f"loading (or training, once) the {cfg.data.dataset} classifier for --eval-every ...")
    classifier = load_or_train_classifier(cfg.data, device=device, progress=say)
    _, reference, _ = labelled_splits(cfg.data)
    n = min(cfg.log.eval_samples, len(reference.images))
    return ClassifierMonitor(classifier, ClassifierFID(classifier, reference.images[:n]), n)
