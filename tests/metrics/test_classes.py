"""Class-aware checks: accuracy and confusion, histogram entropy, classifier IS and FID, TSTR."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.metrics.classes import (
    ClassifierFID,
    class_accuracy,
    class_histogram,
    classifier_inception_score,
    classify_generated,
    confusion_matrix,
    normalized_entropy,
    plot_class_histogram,
    plot_confusion,
    synthetic_training_accuracy,
)
from gankit.metrics.classifier import Classifier
from gankit.models import build_models
from tests.metrics.test_classifier import bars

PNG = b"\x89PNG\r\n\x1a\n"


def tiny_generator(conditional: bool = True, size: int = 16, channels: int = 1, classes: int = 3):
    cfg = ModelConfig(
        arch="mlp",
        z_dim=8,
        conditioning="concat" if conditional else "none",
        embed_dim=4,
        g_hidden=[16],
        d_hidden=[16],
    )
    torch.manual_seed(0)
    G, _ = build_models(cfg, img_size=size, channels=channels, num_classes=classes)
    return G


def one_hot_logits(pred: list[int], k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(pred), k).float() * 5


def test_accuracy_per_class_and_confusion():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    result = class_accuracy(one_hot_logits([0, 1, 1, 1, 0, 2], 4), labels)
    expected = [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert result.confusion.tolist() == expected  # rows: intended, columns: predicted
    assert result.overall == pytest.approx(4 / 6) and result.n == 6
    assert result.per_class[:3] == [0.5, 1.0, 0.5] and math.isnan(result.per_class[3])
    assert confusion_matrix(torch.tensor([2]), torch.tensor([1]), 3)[1, 2] == 1


def test_histogram_entropy():
    assert normalized_entropy(torch.tensor([5, 5, 5, 5])) == pytest.approx(1.0)
    assert normalized_entropy(torch.tensor([0, 9, 0])) == pytest.approx(0.0)
    assert 0 < normalized_entropy(torch.tensor([1, 9, 0])) < 1
    hist = class_histogram(one_hot_logits([0, 1, 1, 2, 1], 4))
    assert hist.counts == [1, 3, 1, 0] and hist.n == 5
    assert hist.entropy == pytest.approx(normalized_entropy(torch.tensor([1, 3, 1, 0])))


def test_classifier_inception_score_bounds():
    uniform = torch.full((100, 10), 0.1)
    assert classifier_inception_score(uniform) == pytest.approx((1.0, 0.0))
    confident = torch.eye(10).repeat(10, 1)  # each split holds every class once
    mean, std = classifier_inception_score(confident)
    assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-9)
    mixed = torch.softmax(torch.randn(200, 10, generator=torch.Generator().manual_seed(0)), 1)
    mean, std = classifier_inception_score(mixed)
    assert 1 < mean < 10 and std > 0


def test_classifier_fid_same_and_different():
    torch.manual_seed(0)
    net = Classifier(img_size=16, channels=1, num_classes=3, width=4).eval()
    real = bars(300, 0).images
    fid = ClassifierFID(net, real)
    assert fid.n_real == 300 and fid.mu.shape == (256,)
    assert fid.of_images(real) == pytest.approx(0.0, abs=1e-6)
    assert fid.of_images(bars(300, 1).images) < fid.of_images(255 - real)
    assert fid.of_images(255 - real) > 0.1
    G = tiny_generator()
    assert fid(G, 64) == pytest.approx(fid(G, 64))  # seeded: the same images each call
    assert fid(G, 64) > fid.of_images(bars(64, 2).images)
    assert "64 generated vs 300 real" in fid.protocol(64)


def test_classify_generated_streams_balanced_labels():
    net = Classifier(img_size=16, channels=1, num_classes=3, width=4).eval()
    out = classify_generated(net, tiny_generator(), 10, batch_size=4)
    assert out.features.shape == (10, 256) and out.logits.shape == (10, 3)
    assert out.labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert classify_generated(net, tiny_generator(conditional=False), 5).labels is None


def test_train_on_synthetic_runs_tiny():
    result = synthetic_training_accuracy(
        tiny_generator(),
        bars(48, 0),
        bars(30, 1),
        n_generated=48,
        epochs=1,
        width=4,
        batch_size=16,
    )
    assert 0 <= result["synthetic_only"] <= 1 and 0 <= result["real_plus_synthetic"] <= 1
    assert result["n_generated"] == 48
    with pytest.raises(GankitError, match="conditional run"):
        synthetic_training_accuracy(tiny_generator(conditional=False), bars(6, 0), bars(6, 1))


def test_pictures_are_written(tmp_path):
    names = ["t-shirt", "trouser", "pullover"]
    confusion = torch.tensor([[5, 1, 0], [0, 6, 0], [2, 0, 4]])
    path = plot_confusion(confusion, names, tmp_path / "out" / "confusion.png")
    assert path.read_bytes()[:8] == PNG
    path = plot_class_histogram([3, 9, 0], names, tmp_path / "histogram.png")
    assert path.read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["confusion.png", "histogram.png", "out"]
