"""augment: per-image random flips, crops and rotations, vectorised, seeded and rank-sliced."""

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import augment, augment_flips, augments
from gankit.data.augment import random_crop, random_rotation


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


def images(n: int = 8, size: int = 16) -> torch.Tensor:
    """Float images whose every pixel differs, so a shift or turn always shows."""
    x = torch.arange(n * 3 * size * size, dtype=torch.float32).reshape(n, 3, size, size)
    return x / x.numel()


def test_crop_shifts_each_image_by_its_own_offset_within_the_padding():
    x = images()
    y = random_crop(x, 2, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    offsets = set()
    for i in range(len(x)):  # each output is one window of its padded image
        found = [
            (r, c)
            for r in range(5)
            for c in range(5)
            if torch.equal(y[i], padded[i, :, r : r + 16, c : c + 16])
        ]
        assert len(found) == 1, i
        offsets |= set(found)
    assert len(offsets) > 1  # not one offset for the whole batch


def test_rotation_turns_about_the_centre_and_zero_is_the_identity():
    x = images(4, 9)
    y = random_rotation(x, 30.0, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.equal(y, x)
    # The centre pixel of an odd-sided image stays where it is, whatever the angle.
    torch.testing.assert_close(y[:, :, 4, 4], x[:, :, 4, 4])
    still = random_rotation(x, 0.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(still, x)


def test_a_half_turn_of_180_degrees_can_be_drawn():
    x = images(64, 8)
    y = random_rotation(x, 180.0, generator=torch.Generator().manual_seed(1))
    turned = (y - x.flip(-1, -2)).abs().flatten(1).amax(1)
    assert turned.min() < 0.2 * (x.max() - x.min())  # some image came close to upside down


def test_augment_is_seeded_and_draws_nothing_for_what_is_off():
    data = DataConfig(hflip=True, crop_padding=3, rotate_degrees=20)
    x = images()
    a = augment(x, data, generator=torch.Generator().manual_seed(5))
    b = augment(x, data, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)
    # Flips alone draw as they always did: runs from before crops and turns keep their images.
    flips_only = augment(x, DataConfig(hflip=True), generator=torch.Generator().manual_seed(5))
    old = augment_flips(x, hflip=True, vflip=False, generator=torch.Generator().manual_seed(5))
    assert torch.equal(flips_only, old)
    assert augment(x, DataConfig(), generator=torch.Generator()) is x
    assert not augments(DataConfig()) and augments(data)


def test_two_ranks_see_one_processs_batch():
    data = DataConfig(hflip=True, vflip=True, crop_padding=2, rotate_degrees=45)
    x = images(8)
    whole = augment(x, data, generator=torch.Generator().manual_seed(9))
    parts = [
        augment(
            x[r * 4 : (r + 1) * 4], data, generator=torch.Generator().manual_seed(9), shard=(r, 2)
        )
        for r in range(2)
    ]
    assert torch.equal(torch.cat(parts), whole)  # bit for bit: the same draws, the same sums
