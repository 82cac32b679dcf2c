"""A trained generator from a run: labels by name or index, seeds, rows per label, walks."""

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.trained import TrainedGenerator, to_pil
from gankit.training import train
from tests.support import tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    train(tiny_config(train={"steps": 3}), root / "cond", progress=False)
    train(
        tiny_config(train={"steps": 3}, model={"conditioning": "none"}),
        root / "uncond",
        progress=False,
    )
    return root


def test_images_by_label_name_and_index_agree(runs):
    model = TrainedGenerator.open(runs / "cond")
    assert model.step == 3 and model.class_names and model.conditional
    name = model.class_names[1]
    by_name = model.generate(4, labels=name, seed=7)
    assert by_name.dtype == torch.uint8 and by_name.shape == (4, 3, 32, 32)
    assert torch.equal(by_name, model.generate(4, labels=1, seed=7))
    assert not torch.equal(by_name, model.generate(4, labels=0, seed=7))


def test_image_i_comes_from_seed_plus_i(runs):
    model = TrainedGenerator.open(runs / "cond")
    many = model.generate(5, labels=[0, 1, 2, 0, 1], seed=10)
    assert torch.equal(many[3:], model.generate(2, labels=[0, 1], seed=13))
    balanced = model.generate(6, seed=0)  # no labels: i mod classes
    k = len(model.class_names)
    assert torch.equal(balanced[k % 6 : k % 6 + 1], model.generate(1, labels=0, seed=k % 6))


def test_rows_per_label_and_walks(runs):
    model = TrainedGenerator.open(runs / "cond")
    k = len(model.class_names)
    grid = model.per_label(3, seed=2)
    assert grid.shape[0] == 3 * k
    assert torch.equal(grid[3:6], model.generate(3, labels=1, seed=2))  # row 1: label 1
    walk = model.interpolate(5, seed=1, to_seed=4, label=0)
    assert torch.equal(walk[0], model.generate(1, labels=0, seed=1)[0])
    assert torch.equal(walk[-1], model.generate(1, labels=0, seed=4)[0])


def test_pil_images(runs):
    images = TrainedGenerator.open(runs / "uncond").generate(2)
    pil = to_pil(images)
    assert [p.size for p in pil] == [(32, 32)] * 2 and pil[0].mode == "RGB"
    assert torch.equal(torch.from_numpy(np.array(pil[0])).permute(2, 0, 1), images[0])


def test_bad_requests_are_one_line(runs):
    cond, uncond = TrainedGenerator.open(runs / "cond"), TrainedGenerator.open(runs / "uncond")
    with pytest.raises(GankitError, match="unconditional"):
        uncond.generate(2, labels=0)
    with pytest.raises(GankitError, match="valid:"):
        cond.generate(2, labels="no-such-label")
    with pytest.raises(GankitError, match="one per image"):
        cond.generate(3, labels=[0, 1])
    with pytest.raises(GankitError, match="1 to"):
        cond.generate(0)
    with pytest.raises(GankitError, match="seed"):
        cond.generate(1, seed=-1)
    with pytest.raises(GankitError, match="no checkpoint at step 99"):
        TrainedGenerator.open(runs / "cond", checkpoint=99)
