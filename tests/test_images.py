import pytest
import torch
from PIL import Image

from gankit.errors import GankitError
from gankit.images import make_grid, save_grid, save_png, to_float, to_uint8


def test_uint8_float_round_trip_is_exact():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = to_float(x)
    assert f.min() == -1 and f.max() == 1
    assert torch.equal(to_uint8(f), x)


def test_grid_places_images_in_rows():
    x = torch.randint(0, 255, (5, 3, 4, 6), dtype=torch.uint8)
    g = make_grid(x, nrow=2, padding=1, pad_value=0)
    assert g.shape == (3, 1 + 3 * 5, 1 + 2 * 7)
    assert torch.equal(g[:, 1:5, 1:7], x[0])
    assert torch.equal(g[:, 1:5, 8:14], x[1])
    assert torch.equal(g[:, 11:15, 1:7], x[4])
    assert (g[:, 11:15, 8:14] == 0).all()  # the empty sixth cell


def test_png_writing(tmp_path):
    x = torch.randint(0, 255, (4, 1, 28, 28), dtype=torch.uint8)
    path = save_grid(x, tmp_path / "a" / "grid.png", nrow=2)
    img = Image.open(path)
    assert img.mode == "L" and min(img.size) >= 58
    assert list(tmp_path.glob("a/.*")) == []  # no temporary file left
    with pytest.raises(GankitError, match="must end in .png"):
        save_png(x[0], tmp_path / "grid.jpg")
