"""The Kaggle CSV form of (Fashion-)MNIST."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import FASHION_MNIST_CLASSES, load_dataset
from gankit.data.csv import read_csv
from gankit.errors import GankitError

HEADER = "label," + ",".join(f"pixel{i}" for i in range(1, 785))


def write_csv(path: Path, labels, header: str = HEADER, columns: int = 784, seed: int = 0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (len(labels), columns))
    rows = [",".join(map(str, [label, *row])) for label, row in zip(labels, pixels)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return pixels


def test_reads_images_and_labels(tmp_path):
    path = tmp_path / "fashion-mnist_train.csv"
    pixels = write_csv(path, [9, 0, 3])
    data = read_csv(path)
    assert data.images.shape == (3, 1, 28, 28) and data.images.dtype == torch.uint8
    assert np.array_equal(data.images.reshape(3, -1).numpy(), pixels)
    assert data.labels.tolist() == [9, 0, 3] and data.labels.dtype == torch.int64
    assert data.class_names == FASHION_MNIST_CLASSES


def test_digit_names_and_zero_based_header(tmp_path):
    path = tmp_path / "train.csv"  # Kaggle digit-recognizer numbers pixels from 0
    write_csv(path, [1, 7], header="label," + ",".join(f"pixel{i}" for i in range(784)))
    assert read_csv(path).class_names == [str(i) for i in range(8)]


def error(path: Path, **kwargs) -> str:
    with pytest.raises(GankitError) as info:
        read_csv(path, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1,2,3\n4,5,6\n")
    assert "header" in error(path)


def test_wrong_column_count(tmp_path):
    path = tmp_path / "x.csv"
    write_csv(
        path, [1, 2], header="label," + ",".join(f"pixel{i}" for i in range(1, 101)), columns=100
    )
    assert "101 columns" in error(path)


def test_ragged_row(tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, [1, 2])
    path.write_text(path.read_text() + "3,4,5\n")
    assert "not a clean CSV" in error(path)


def test_bad_values(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(HEADER + "\n1,300" + ",0" * 783 + "\n")
    assert "0..255" in error(path)
    write_csv(path, [-1])
    assert "negative" in error(path)


def test_too_few_rows(tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, [])
    assert "0 image rows" in error(path)
    write_csv(path, [1, 2])
    assert "min_images=5" in error(path, min_images=5)


def test_load_dataset_converts_and_finds_the_test_file(tmp_path):
    write_csv(tmp_path / "fashion-mnist_train.csv", [1, 2, 3])
    write_csv(tmp_path / "fashion-mnist_test.csv", [4, 5], seed=1)
    cfg = DataConfig(dataset=str(tmp_path / "fashion-mnist_train.csv"), img_size=32, channels=3)
    cfg.min_images = 1
    train = load_dataset(cfg)
    assert train.images.shape == (3, 3, 32, 32)
    test = load_dataset(cfg, split="test")
    assert test.labels.tolist() == [4, 5] and test.name.endswith("fashion-mnist_test.csv")


def test_no_test_file(tmp_path):
    write_csv(tmp_path / "mine.csv", [1])
    with pytest.raises(GankitError, match="no test split"):
        load_dataset(DataConfig(dataset=str(tmp_path / "mine.csv"), min_images=1), split="test")
