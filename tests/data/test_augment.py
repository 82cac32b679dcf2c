"""augment_flips: per-image random flips, vectorised and seeded."""

import pytest
import torch

from gankit.data import augment_flips


def batch(dtype=torch.uint8) -> torch.Tensor:
    return torch.arange(400 * 2 * 3 * 4).reshape(400, 2, 3, 4).to(dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_hflip_flips_about_half_and_nothing_else(dtype):
    x = batch(dtype)
    y = augment_flips(x, hflip=True, vflip=False, generator=torch.Generator().manual_seed(0))
    assert y.dtype == dtype and y.shape == x.shape
    same = (y == x).flatten(1).all(1)
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same ^ flipped)
    assert 150 < flipped.sum() < 250


def test_vflip_and_both():
    x = batch()
    y = augment_flips(x, hflip=False, vflip=True, generator=torch.Generator().manual_seed(0))
    assert torch.all((y == x).flatten(1).all(1) ^ (y == x.flip(-2)).flatten(1).all(1))
    z = augment_flips(x, hflip=True, vflip=True, generator=torch.Generator().manual_seed(0))
    options = [x, x.flip(-1), x.flip(-2), x.flip(-1, -2)]
    matches = torch.stack([(z == o).flatten(1).all(1) for o in options]).sum(0)
    assert torch.all(matches == 1)


def test_seeded_and_off():
    x = batch()
    a = augment_flips(x, hflip=True, vflip=True, generator=torch.Generator().manual_seed(3))
    b = augment_flips(x, hflip=True, vflip=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert augment_flips(x, hflip=False, vflip=False, generator=torch.Generator()) is x
