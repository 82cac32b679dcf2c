"""The built-in shapes dataset: seeded, balanced, visible, inside the frame."""

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset, native_shape, shapes


@pytest.fixture(scope="module")
def generated():
    return shapes.generate_shapes(600, seed=0, size=64)


def test_deterministic_and_seeded(generated):
    images, labels = generated
    again, again_labels = shapes.generate_shapes(600, seed=0, size=64)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    other, _ = shapes.generate_shapes(600, seed=1, size=64)
    assert not torch.equal(images, other)


def test_chunking_does_not_change_images(generated, monkeypatch):
    monkeypatch.setattr(shapes, "_CHUNK", 70)
    assert torch.equal(shapes.generate_shapes(600, seed=0, size=64)[0], generated[0])


def test_balanced_labels(generated):
    images, labels = generated
    assert images.shape == (600, 3, 64, 64) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and labels.bincount().tolist() == [200, 200, 200]


def masks(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    background = images[:, :, 0, 0]  # the corner is background: shapes are inside
    return (images != background[:, :, None, None]).any(1), background


def test_shapes_visible_inside_and_contrasting(generated):
    images = generated[0]
    mask, background = masks(images)
    area = mask.flatten(1).float().mean(1)
    assert area.min() > 0.03 and area.max() < 0.27  # equal-area sides 0.2..0.5
    border = torch.cat([mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1]], 1)
    assert not border.any()
    foreground = images.permute(0, 2, 3, 1)[mask.nonzero(as_tuple=True)]
    per_image = torch.repeat_interleave(background, mask.flatten(1).sum(1), dim=0)
    assert ((foreground.int() - per_image.int()).abs() >= 55).all()  # one colour, far away


def test_shape_outlines_match_labels(generated):
    # Fraction of the bounding box covered: circle pi/4, triangle at most 1/2 (+ pixels),
    # square between 1/2 (at 45 degrees) and 1.
    images, labels = generated
    mask, _ = masks(images)
    box = mask.any(2).sum(1) * mask.any(1).sum(1)
    fill = mask.flatten(1).sum(1) / box
    assert ((fill[labels == 0] > 0.7) & (fill[labels == 0] < 0.9)).all()
    assert (fill[labels == 1] > 0.45).all() and fill[labels == 1].max() > 0.9
    assert (fill[labels == 2] < 0.6).all()


@pytest.mark.parametrize("size", [32, 64])
def test_load_dataset_sizes(size):
    cfg = DataConfig(dataset="shapes", shapes_count=60, img_size=size)
    data = load_dataset(cfg)
    assert data.images.shape == (60, 3, size, size) and data.class_names == shapes.CLASS_NAMES
    assert f"at {size} px" in data.source and data.name == "shapes"
    assert native_shape(cfg) == (64, 3)


def test_test_split_is_another_seed():
    cfg = DataConfig(dataset="shapes", shapes_count=60)
    train, test = load_dataset(cfg), load_dataset(cfg, split="test")
    assert test.images.shape[0] == 10
    assert not torch.equal(train.images[:10], test.images)
