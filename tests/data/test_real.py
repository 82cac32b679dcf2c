"""The real Fashion-MNIST files (Debian's dataset-fashion-mnist), when installed."""

from pathlib import Path

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import FASHION_MNIST_CLASSES, idx, load_dataset

SYSTEM = Path("/usr/share/datasets/fashion-mnist")
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not SYSTEM.is_dir(), reason="apt-get install dataset-fashion-mnist"),
]


@pytest.fixture(autouse=True)
def no_user_files(monkeypatch, tmp_path):
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


def test_idx_counts_and_first_labels():
    train = idx.read_images(SYSTEM / "train-images-idx3-ubyte.gz")
    test_labels = idx.read_labels(SYSTEM / "t10k-labels-idx1-ubyte.gz")
    assert train.shape == (60000, 1, 28, 28) and test_labels.shape == (10000,)
    labels = idx.read_labels(SYSTEM / "train-labels-idx1-ubyte.gz")
    assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert labels.bincount().tolist() == [6000] * 10


def test_load_dataset_test_split_at_32_rgb():
    data = load_dataset(DataConfig(img_size=32, channels=3), split="test")
    assert data.images.shape == (10000, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert data.class_names == FASHION_MNIST_CLASSES and data.name == "fashion-mnist"
    assert str(SYSTEM) in data.source
    assert torch.equal(data.images[:, 0], data.images[:, 2])
    assert 50 < data.images.float().mean() < 100  # mostly dark backgrounds


def test_load_dataset_native_train():
    data = load_dataset(DataConfig())
    assert data.images.shape == (60000, 1, 28, 28) and data.images.is_contiguous()
