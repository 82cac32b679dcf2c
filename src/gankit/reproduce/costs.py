"""What a full-scale reproduction costs on the CPU gankit is developed on.

Owns the measured figures (seconds per training step of each preset, per Inception
image, per classifier step) and ``document_cost``, which multiplies them by the
steps and images a document's experiments need at --scale 1. The figures were
printed by ``python bench/reproduce_cost.py`` on the development machine (a shared
2-core x86-64 CPU, torch with both threads as training uses them, no GPU); another
machine scales them by its speed. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gankit.presets import get_preset
from gankit.reproduce.catalog import (
    LUCIC_EPOCHS,
    LUCIC_TRAIN_IMAGES,
    STANDARD_N,
    Document,
    Experiment,
)

# `python bench/reproduce_cost.py` on the 2-core development CPU (quiet, load ~1), torch
# with 2 threads, 2026-11-30: seconds per generator step with the preset's own batch and
# critic steps (flowers-* and shapes-* are the same networks, timed once).
SECONDS_PER_STEP: dict[str, float] = {
    "art-dcgan-128": 6.995,
    "fashion-best": 0.07072,
    "fashion-cgan": 0.2643,
    "fashion-cgan-slow": 0.1282,
    "fashion-dcgan": 0.1078,
    "fashion-gan": 0.02117,
    "fashion-wgan": 0.8473,
    "fashion-wgan-gp": 0.4424,
    "flowers-dcgan": 6.337,
    "flowers-gan": 0.06554,
    "flowers-mlp": 0.1435,
    "flowers-wgan": 14.68,
    "flowers-wgan-gp": 21.19,
    "lucic-fashion-dragan": 0.2062,
    "lucic-fashion-hinge": 0.1239,
    "lucic-fashion-lsgan": 0.1222,
    "lucic-fashion-minimax": 0.1367,
    "lucic-fashion-ns": 0.126,
    "lucic-fashion-wgan": 0.4689,
    "lucic-fashion-wgan-gp": 0.8204,
    "mnist-dcgan": 0.4986,
    "mnist-gan": 0.01383,
    "mnist-wgan": 3.953,
    "mnist-wgan-gp": 6.709,
    "shapes-dcgan": 6.337,
    "shapes-gan": 0.06554,
    "shapes-wgan": 14.68,
    "shapes-wgan-gp": 21.19,
}
INCEPTION_SECONDS_PER_IMAGE = 0.0468  # the same command: 16 images at 28 px through Inception
CLASSIFIER_SECONDS_PER_STEP = 0.114  # the same command: batch 128 at 28 px, forward + backward
MACHINE = "the 2-core development CPU, 2 threads"

# Training images per dataset (the steps of an epoch); shapes: 10,000 less its test share.
TRAIN_IMAGES = {"fashion-mnist": 60_000, "mnist": 60_000, "shapes": 8_334}
TRAIN_IMAGES |= {"flowers": 8_189, "art": 2_782}  # the documents' own counts
CLASSIFIER_EPOCHS, TSTR_EPOCHS = 15, 5  # seed 001's checks: the classifier, then two for TSTR


@dataclass(frozen=True)
class Cost:
    train_seconds: float
    eval_seconds: float
    steps: int
    fid_images: int

    @property
    def seconds(self) -> float:
        return self.train_seconds + self.eval_seconds


def experiment_steps(exp: Experiment, at: float | None = None) -> int:
    """Generator steps to reach ``at`` (default: the last point) at full scale."""
    at = exp.points[-1].at if at is None else at
    if exp.unit == "steps":
        return int(at)
    t = get_preset(exp.preset).train
    return max(1, math.ceil(at * TRAIN_IMAGES[exp.data] / (t.batch_size * t.n_critic)))


def document_cost(doc: Document, fid_n: int | None = None) -> Cost:
    """Training and evaluation seconds of ``doc`` at --scale 1 on ``MACHINE``.

    Evaluation counts N generated images per point plus each dataset's real side once
    (it is cached after), and for seed 001 the classifier checks.
    """
    n = fid_n or doc.fid_n
    steps = sum(experiment_steps(e) for e in doc.experiments)
    train = sum(
        experiment_steps(e) * SECONDS_PER_STEP.get(e.preset, math.nan) for e in doc.experiments
    )
    images = sum(n * len({p.at for p in e.points}) for e in doc.experiments)
    images += n * len({e.data for e in doc.experiments})
    evaluation = images * INCEPTION_SECONDS_PER_IMAGE
    if doc.class_checks:
        per_epoch = TRAIN_IMAGES["fashion-mnist"] // 128
        # the dataset classifier, then TSTR's two: on synthetic only and on real + synthetic
        clf_steps = per_epoch * (CLASSIFIER_EPOCHS + TSTR_EPOCHS * 3)
        evaluation += clf_steps * CLASSIFIER_SECONDS_PER_STEP
    return Cost(train, evaluation, steps, images)


def lucic_trial(loss: str) -> tuple[int, float]:
    """(steps, seconds) of one lucic-fashion trial at --scale 1 with the preset's own settings
    (the search moves the D steps, and so the steps, between 1 and 5 per G step)."""
    t = get_preset(f"lucic-fashion-{loss}").train
    steps = max(1, math.ceil(LUCIC_EPOCHS * LUCIC_TRAIN_IMAGES / (t.batch_size * t.n_critic)))
    seconds = steps * SECONDS_PER_STEP.get(f"lucic-fashion-{loss}", math.nan)
    return steps, seconds + STANDARD_N * INCEPTION_SECONDS_PER_IMAGE  # its one FID at the end


def format_seconds(seconds: float) -> str:
    if math.isnan(seconds):
        return "not measured"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 72 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
