"""Class-aware checks of a generator, judged by the dataset's own classifier.

Owns the maths on classifier outputs and the pictures of them, following
seed 001's evaluation: accuracy of generated images against the label they
were generated for (overall, per class, confusion matrix); the class
histogram of N generated images with its normalised entropy (a mode-collapse
check); the *classifier* Inception Score - Salimans et al. 2016's
exp(E_x KL(p(y|x) || p(y))), mean and std over 10 splits, but with the
dataset's classifier instead of Inception, so its values are comparable only
between runs on the same dataset; the *classifier* FID - Heusel et al. 2017's
Fréchet distance in the classifier's penultimate features (cheap enough to
track during training); and train-on-synthetic / test-on-real accuracy
(Shmelkov et al. 2018; seed 001's augmentation experiment).

The maths functions take tensors and do no I/O; the plotting functions are
separate, take the numbers, and write PNGs atomically (matplotlib, Agg).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit import durable
from gankit.data import ImageData
from gankit.errors import GankitError
from gankit.metrics.classifier import (
    Augment,
    Classifier,
    default_augment,
    predict,
    train_classifier,
)
from gankit.metrics.frechet import frechet_distance, mean_cov
from gankit.sampling import sample_batches

# --- maths on logits, probabilities and labels ---


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 [K, K] counts: row = intended (target) label, column = predicted label."""
    index = target.long().cpu() * num_classes + pred.long().cpu()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, -1)


@dataclasses.dataclass
class ClassAccuracy:
    """How often generated images are classified as the label they were generated for."""

    overall: float  # share of all N images
    per_class: list[float]  # per intended label; NaN for a label with no images
    confusion: torch.Tensor  # int64 [K, K], rows intended, columns predicted
    n: int  # images judged


def class_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> ClassAccuracy:
    """Accuracy of ``logits`` [N, K] (or probabilities) against intended ``labels`` [N]."""
    k = logits.shape[1]
    confusion = confusion_matrix(logits.argmax(1), labels, k)
    totals = confusion.sum(1).double()
    per_class = (confusion.diagonal().double() / totals).tolist()  # 0 / 0 -> NaN
    overall = float(confusion.diagonal().sum() / max(1, len(labels)))
    return ClassAccuracy(overall, per_class, confusion, len(labels))


def normalized_entropy(counts: torch.Tensor) -> float:
    """Entropy of the histogram ``counts`` over its K bins, divided by log K.

    1.0 when every class is equally frequent, 0.0 when all images fall in one class.
    """
    p = counts.double() / counts.sum().clamp(min=1)
    k = len(counts)
    if k < 2:
        return 1.0  # one class cannot be missing
    return float(-torch.special.xlogy(p, p).sum() / math.log(k))


@dataclasses.dataclass
class ClassHistogram:
    """Predicted classes of N generated images (seed 001's mode-collapse check)."""

    counts: list[int]  # images predicted as each class
    entropy: float  # normalized_entropy(counts): 1 = balanced, 0 = one class only
    n: int


def class_histogram(logits: torch.Tensor) -> ClassHistogram:
    """Histogram of the arg-max classes of ``logits`` [N, K] (or probabilities)."""
    counts = torch.bincount(logits.argmax(1).cpu(), minlength=logits.shape[1])
    return ClassHistogram(counts.tolist(), normalized_entropy(counts), len(logits))


def classifier_inception_score(probs: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """Classifier IS: exp(E_x KL(p(y|x) || p(y))) per split -> (mean, std over splits).

    Salimans et al. 2016's formula and 10 contiguous splits (std with ddof 0, as
    their code), with the dataset's classifier's softmax ``probs`` [N, K].
    Ranges from 1 (every prediction the same) to K (confident and balanced).
    """
    p = probs.double().cpu()
    scores = []
    for part in torch.tensor_split(p, min(splits, len(p))):
        p_y = part.mean(0, keepdim=True)
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, p_y)).sum(1)
        scores.append(math.exp(float(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


# --- the classifier run over generated images ---


@dataclasses.dataclass
class GeneratedPredictions:
    """One pass of the classifier over N generated images."""

    features: torch.Tensor  # float32 [N, feature_dim]: penultimate activations
    logits: torch.Tensor  # float32 [N, K]
    labels: torch.Tensor | None  # int64 [N]: the labels they were generated for (conditional G)


def classify_generated(
    classifier: Classifier, G: nn.Module, n: int, *, seed: int = 0, batch_size: int = 250
) -> GeneratedPredictions:
    """Generates ``n`` images (seeds ``seed``.., balanced labels) and classifies them, streamed."""
    feats, logits, labels = [], [], []
    for images, y in sample_batches(G, n, seed=seed, batch_size=batch_size):
        f, lg = predict(classifier, images, batch_size=batch_size)
        feats.append(f)
        logits.append(lg)
        if y is not None:
            labels.append(y)
    return GeneratedPredictions(
        features=torch.cat(feats) if feats else torch.empty(0, classifier.feature_dim),
        logits=torch.cat(logits) if logits else torch.empty(0, classifier.num_classes),
        labels=torch.cat(labels) if labels else None,
    )


class ClassifierFID:
    """Classifier FID: Fréchet distance in the classifier's penultimate features.

    The real side's mean and covariance are computed once, here; each call then
    costs only generating and classifying the fake side, so it can run during
    training. Values compare runs on the same dataset and classifier only.

    Args:
        classifier: the dataset's classifier (``load_or_train_classifier``).
        real_images: uint8 [N, C, H, W], e.g. the test split.
    """

    def __init__(self, classifier: Classifier, real_images: torch.Tensor):
        self.classifier = classifier
        self.n_real = len(real_images)
        features, _ = predict(classifier, real_images)
        self.mu, self.sigma = mean_cov(features.numpy())

    def protocol(self, n_generated: int) -> str:
        return f"classifier FID, {n_generated} generated vs {self.n_real} real images"

    def from_features(self, features: torch.Tensor) -> float:
        """The distance for generated features [M, feature_dim] (e.g. ``classify_generated``'s)."""
        mu, sigma = mean_cov(features.double().numpy())
        return frechet_distance(mu, sigma, self.mu, self.sigma)

    def of_images(self, images: torch.Tensor) -> float:
        """The distance for uint8 images [M, C, H, W]."""
        return self.from_features(predict(self.classifier, images)[0])

    def __call__(self, G: nn.Module, n: int | None = None, *, seed: int = 0) -> float:
        """The distance for ``n`` images from G (default: as many as real ones)."""
        n = self.n_real if n is None else n
        return self.from_features(classify_generated(self.classifier, G, n, seed=seed).features)


def synthetic_training_accuracy(
    G: nn.Module,
    real: ImageData,
    test: ImageData,
    *,
    n_generated: int | None = None,
    epochs: float = 5.0,
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
    augment: Augment | None = None,
    width: int = 32,
) -> dict[str, float | int]:
    """Train-on-synthetic test-on-real: the classifier recipe on generated images.

    Trains two fresh classifiers, on generated images only (labels = the labels
    they were generated for) and on real + generated (seed 001's augmentation
    experiment, 79%), and measures both on the real ``test`` images.

    Args:
        G: a conditional generator at the data's size and channels.
        real: the labelled real training images.
        test: the labelled real test images.
        n_generated: generated images (balanced labels, seeds ``seed``..); default len(real).
        epochs: the (short) schedule of each training.
        augment: default ``default_augment(real.name)``.
        width: the classifiers' first-stage channels (32, as the dataset's classifier).

    Returns:
        {"synthetic_only", "real_plus_synthetic": test accuracies, "n_generated", "epochs"}.
    """
    if not getattr(G, "conditional", False):
        raise GankitError(
            "train-on-synthetic needs a conditional run (its images need intended labels) - "
            "use a run trained with --conditioning concat or projection"
        )
    n = len(real.images) if n_generated is None else n_generated
    batches = list(sample_batches(G, n, seed=seed))
    fake = dataclasses.replace(
        real,
        images=torch.cat([b[0] for b in batches]),
        labels=torch.cat([b[1] for b in batches]),
        source=f"{n} images generated from seed {seed}",
    )
    both = dataclasses.replace(
        real,
        images=torch.cat([real.images, fake.images]),
        labels=torch.cat([real.labels, fake.labels]),
    )
    kwargs = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
        "augment": augment or default_augment(real.name),
        "width": width,
    }
    _, synthetic = train_classifier(fake, test, **kwargs)
    _, mixed = train_classifier(both, test, **kwargs)
    return {
        "synthetic_only": synthetic["test_accuracy"],
        "real_plus_synthetic": mixed["test_accuracy"],
        "n_generated": n,
        "epochs": epochs,
    }


# --- pictures ---


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Writes a matplotlib Figure as PNG atomically and durably (see ``gankit.durable``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        durable.replace_file(tmp, path)
    except OSError as e:
        raise GankitError(
            f"cannot write {path}: {durable.describe(e)} - check the folder and free space"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def new_figure(width: float, height: float):
    """A matplotlib Figure of ``width`` x ``height`` inches, for ``save_figure``."""
    # A bare Figure (no pyplot): no global state, and PNG output uses the Agg canvas.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_confusion(
    confusion: torch.Tensor, class_names: Sequence[str], path: str | Path, *, title: str = ""
) -> Path:
    """Confusion matrix picture: rows = intended label, columns = predicted, counts in cells.

    Colours are row shares, so a class with few images is still readable.
    """
    k = len(class_names)
    counts = confusion.cpu().numpy()
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig = new_figure(1.0 + 0.6 * k, 0.8 + 0.55 * k)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    for i in range(k):
        for j in range(k):
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted by the classifier")
    ax.set_ylabel("label generated for")
    ax.set_title(title or "confusion matrix of generated images")
    return save_figure(fig, path)


def plot_class_histogram(
    counts: Sequence[int], class_names: Sequence[str], path: str | Path, *, title: str = ""
) -> Path:
    """Bar chart of predicted classes, with the balanced count as a dashed line."""
    k, n = len(class_names), int(sum(counts))
    entropy = normalized_entropy(torch.as_tensor(list(counts)))
    fig = new_figure(1.5 + 0.5 * k, 3.5)
    ax = fig.add_subplot()
    ax.bar(range(k), counts, color="tab:blue")
    ax.axhline(n / max(k, 1), color="black", linestyle="--", linewidth=1, label="balanced")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_ylabel("images")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or f"predicted classes of {n} generated images (entropy {entropy:.3f})")
    return save_figure(fig, path)
