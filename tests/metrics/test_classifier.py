"""The dataset classifier: shapes per dataset size, training, augmentation, cache and CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import classifier as classifier_cli
from gankit.config import DataConfig
from gankit.data import ImageData, load_dataset
from gankit.errors import GankitError
from gankit.metrics import classifier as clf
from gankit.metrics.classifier import (
    Augment,
    Classifier,
    augment_batch,
    cached_classifier_info,
    dataset_key,
    load_or_train_classifier,
    predict,
    train_classifier,
)
from tests.support import realdata


def bars(n: int, seed: int, size: int = 16) -> ImageData:
    """Three classes told apart by where a bright bar lies (top / middle / bottom) on noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.randint(0, 80, (n, 1, size, size), generator=g, dtype=torch.uint8)
    rows = (labels * (size // 3) + 2)[:, None] + torch.arange(2)
    images[torch.arange(n)[:, None], 0, rows] = 230
    return ImageData(images, labels, ["top", "middle", "bottom"], "bars", "made in a test")


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
def test_network_works_at_native_sizes(size, channels):
    model = Classifier(img_size=size, channels=channels, num_classes=10, width=4).eval()
    x = torch.randint(0, 256, (2, channels, size, size), dtype=torch.uint8)
    features, logits = predict(model, x)
    assert features.shape == (2, 256) and logits.shape == (2, 10)
    assert torch.allclose(model(x), logits, atol=1e-5)  # uint8 in, [-1, 1] inside


def test_training_beats_chance():
    model, report = train_classifier(bars(192, 0), bars(96, 1), epochs=2, batch_size=32, width=8)
    assert report["test_accuracy"] > 0.8  # chance: 1/3
    assert report["train_images"] == 192 and report["test_images"] == 96
    assert not model.training


def test_unlabelled_data_is_refused(tmp_path):
    data = ImageData(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), None, [], "pics", "")
    with pytest.raises(GankitError, match="has no labels"):
        train_classifier(data, None)
    for i in range(16):  # an image folder without class subfolders
        Image.new("L", (8, 8), i * 10).save(tmp_path / f"{i}.png")
    with pytest.raises(GankitError, match="no classifier for it - class checks need a labelled"):
        load_or_train_classifier(DataConfig(dataset=str(tmp_path), img_size=16))


def test_augment_shifts_at_most_by_the_padding_and_flips():
    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one bright pixel in the centre
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(augment_batch(x, Augment(shift=0, hflip=False), gen), x)
    out = augment_batch(x, Augment(shift=2, hflip=False), gen)
    where = out[:, 0].flatten(1).argmax(1)
    rows, cols = where // 9, where % 9
    assert ((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # offsets really vary
    ramp = torch.arange(4.0).expand(32, 1, 4, 4)
    flipped = augment_batch(ramp, Augment(shift=0, hflip=True), gen)
    is_flipped = (flipped == ramp.flip(-1)).flatten(1).all(1)
    assert 0 < is_flipped.sum() < 32 and ((flipped == ramp).flatten(1).all(1) | is_flipped).all()


def test_dataset_key_follows_what_the_data_is():
    small = DataConfig(dataset="shapes", img_size=16, shapes_count=12)
    key = dataset_key(small, load_dataset(small))
    assert key.startswith("shapes-16px-3ch-")
    assert key == dataset_key(small, load_dataset(small))
    other_count = DataConfig(dataset="shapes", img_size=16, shapes_count=15)
    assert dataset_key(other_count, load_dataset(other_count)) != key
    grey = DataConfig(dataset="shapes", img_size=16, shapes_count=12, channels=1)
    assert dataset_key(grey, load_dataset(grey)) != key


def test_cache_trains_once_then_loads(monkeypatch, tmp_path):
    # A cache of its own: other tests may have cached a classifier for the same data.
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    calls = []

    def tiny_train(data, test, **kwargs):
        calls.append(kwargs["epochs"])
        return train_classifier(data, test, **{**kwargs, "width": 4, "batch_size": 32})

    monkeypatch.setattr(clf, "train_classifier", tiny_train)
    cfg = DataConfig(dataset="shapes", img_size=32, shapes_count=96)
    first = load_or_train_classifier(cfg, epochs=1)
    folder = first.info["cache_dir"]
    record = json.loads((clf.Path(folder) / clf.INFO_FILE).read_text())
    assert record["key"] == clf.Path(folder).name and record["test_split"] == "test split"
    assert record["arch"] == clf.ARCH and 0 <= record["test_accuracy"] <= 1

    second = load_or_train_classifier(cfg, epochs=1)
    assert calls == [1]  # loaded, not retrained
    assert second.info["test_accuracy"] == first.info["test_accuracy"]
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert cached_classifier_info(cfg) == (clf.Path(folder), record)

    (clf.Path(folder) / clf.INFO_FILE).write_text("{not json")  # damaged: train again
    load_or_train_classifier(cfg, epochs=1)
    load_or_train_classifier(cfg, epochs=1, retrain=True)
    assert calls == [1, 1, 1]
    assert not [p for p in clf.classifiers_root().iterdir() if p.name.startswith(".tmp")]


def _class_folder(root, per_class: int = 12):
    """Two classes (dark, light) of small noisy grey PNGs in class subfolders."""
    rng = np.random.default_rng(0)
    for name, base in (("dark", 30), ("light", 200)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(base + rng.integers(-20, 20, (12, 12)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
    return root


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gankit")
    sub = parser.add_subparsers(dest="command", required=True)
    classifier_cli.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_train_then_info(tmp_path, capsys):
    data = str(_class_folder(tmp_path / "pics"))
    assert _cli(["classifier", "info", data, "--img-size", "16"]) == 1
    assert "no classifier cached" in capsys.readouterr().out
    argv = ["classifier", "train", data, "--img-size", "16", "--epochs", "1", "--device", "cpu"]
    assert _cli(argv) == 0
    out = capsys.readouterr().out
    assert "epoch 1:" in out and "trained" in out and "test accuracy" in out
    assert "10% of train held out" in out and "cached in " in out
    assert _cli(argv) == 0
    assert "cached (use --retrain" in capsys.readouterr().out
    assert _cli(["classifier", "info", data, "--img-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "dark, light" in out and "16 px" in out
    with pytest.raises(GankitError, match="--epochs"):
        _cli([*argv[:3], "--epochs", "0"])


@realdata
def test_fashion_mnist_key():
    folder, info = cached_classifier_info(DataConfig(dataset="fashion-mnist"))
    assert folder.name.startswith("fashion-mnist-28px-1ch-") and info is None
