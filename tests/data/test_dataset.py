"""Dataset names, the one-time resize / channel conversion, native shapes, class lookup."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import (
    FASHION_MNIST_CLASSES,
    dataset_kind,
    label_index,
    load_dataset,
    native_shape,
)
from gankit.data.dataset import convert_images
from gankit.errors import GankitError


@pytest.mark.parametrize(
    "name,kind",
    [("fashion-mnist", "fashion-mnist"), ("Fashion_MNIST", "fashion-mnist"), ("mnist", "mnist"),
     ("shapes", "shapes")],
)  # fmt: skip
def test_builtin_kinds(name, kind):
    assert dataset_kind(name) == kind


def test_path_kinds(tmp_path):
    (tmp_path / "x.csv").write_text("label\n")
    (tmp_path / "x.txt").write_text("")
    assert dataset_kind(str(tmp_path)) == "folder"
    assert dataset_kind(str(tmp_path / "x.csv")) == "csv"
    with pytest.raises(GankitError, match="is a file"):
        dataset_kind(str(tmp_path / "x.txt"))
    with pytest.raises(GankitError, match="no such folder or file"):
        dataset_kind(str(tmp_path / "missing"))


def test_unknown_name_suggests_and_mentions_paths():
    with pytest.raises(GankitError) as info:
        dataset_kind("fashon-mnist")
    message = str(info.value)
    assert "did you mean 'fashion-mnist'" in message and "image folder" in message
    assert ".csv" in message and "\n" not in message


def test_native_shapes(tmp_path):
    assert native_shape(DataConfig()) == (28, 1)
    assert native_shape(DataConfig(dataset="mnist")) == (28, 1)
    assert native_shape(DataConfig(dataset="shapes")) == (64, 3)
    assert native_shape(DataConfig(dataset=str(tmp_path))) == (64, 3)
    assert native_shape(DataConfig(dataset=str(tmp_path), img_size=32)) == (32, 3)


def test_grey_to_rgb_and_resize():
    grey = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    out = convert_images(grey, 32, 3)
    assert out.shape == (5, 3, 32, 32) and out.dtype == torch.uint8 and out.is_contiguous()
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    assert convert_images(grey, 28, 1) is grey


def test_shrinking_is_antialiased():
    stripes = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    stripes[..., ::2] = 255  # one-pixel stripes average to mid-grey when shrunk 4x
    out = convert_images(stripes, 16, 1)[..., 1:-1]  # the edge columns see a clamped border
    assert (out.int() - 128).abs().max() <= 1


def test_rgb_to_grey_matches_pillow_luma():
    rgb = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    out = convert_images(rgb, 8, 1)
    for i in range(4):
        pil = Image.fromarray(rgb[i].permute(1, 2, 0).numpy()).convert("L")
        assert np.abs(np.asarray(pil).astype(int) - out[i, 0].numpy()).max() <= 1


@pytest.mark.parametrize(
    "options,match",
    [({"channels": 2}, "channels"), ({"img_size": -1}, "img_size"),
     ({"split": "val"}, "split"), ({"shapes_count": 0}, "shapes_count")],
)  # fmt: skip
def test_bad_options(options, match):
    cfg = DataConfig(dataset="shapes", shapes_count=30)
    for key, value in options.items():
        setattr(cfg, key, value)
    with pytest.raises(GankitError, match=match) as info:
        load_dataset(cfg)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "label,index",
    [("Sandal", 5), ("ankle boot", 9), ("ankle-boot", 9), ("Ankle_Boot", 9), ("5", 5), (5, 5),
     ("T-shirt/top", 0), ("t-shirt", 0), (" Bag ", 8)],
)  # fmt: skip
def test_label_index(label, index):
    assert label_index(FASHION_MNIST_CLASSES, label) == index


@pytest.mark.parametrize("label", ["sandle", 10, "10", "-1", -1, "hat"])
def test_label_index_errors(label):
    with pytest.raises(GankitError) as info:
        label_index(FASHION_MNIST_CLASSES, label)
    message = str(info.value)
    assert "ankle-boot" in message and "\n" not in message


def test_label_index_suggests_and_handles_unlabelled():
    with pytest.raises(GankitError, match="did you mean 'sandal'"):
        label_index(FASHION_MNIST_CLASSES, "sandle")
    assert label_index([str(i) for i in range(10)], "7") == 7
    with pytest.raises(GankitError, match="no labels"):
        label_index([], "cat")
