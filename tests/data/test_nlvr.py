"""NLVR: the release layout, cutting pictures at their grey bars, the cache, the error lines."""

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import dataset_kind, load_dataset, native_shape, nlvr
from gankit.errors import GankitError

BAR_GREY = (153, 153, 153)
RED, BLUE, YELLOW = (230, 20, 30), (0, 153, 255), (255, 220, 0)
GREEN, BLACK = (20, 170, 60), (0, 0, 0)


def draw_picture(colours, *, box=100, bar=50, frame=0, bars=True) -> np.ndarray:
    """An NLVR-like picture: three white boxes, each mostly one coloured square plus a small
    black one, between two grey bars, inside an optional grey frame."""
    height, width = box + 2 * frame, 3 * box + 2 * bar + 2 * frame
    pixels = np.full((height, width, 3), BAR_GREY if bars else (255, 255, 255), dtype=np.uint8)
    for i, colour in enumerate(colours):
        x = frame + i * (box + bar)
        inside = pixels[frame : frame + box, x : x + box]
        inside[:] = 255
        inside[box // 10 : box * 9 // 10, box // 10 : box * 9 // 10] = colour  # 64% of the box
        inside[: box // 10, : box // 10] = BLACK  # a second shape in the corner
    return pixels


def make_release(root: Path, pictures: dict, split="train", orders=(0,), **geometry) -> Path:
    """Writes ``root/<split>`` as the release lays it out; ``pictures`` maps
    "directory/identifier" to the three box colours (order k rotates them by k);
    ``geometry`` goes to ``draw_picture``."""
    folder = root / split
    lines = []
    for key, colours in pictures.items():
        directory, identifier = key.split("/")
        (folder / "images" / directory).mkdir(parents=True, exist_ok=True)
        for k in orders:
            rotated = colours[k % 3 :] + colours[: k % 3]
            name = f"{split}-{identifier}-{k}.png"
            picture = draw_picture(rotated, **geometry)
            Image.fromarray(picture).save(folder / "images" / directory / name)
        record = {"sentence": "There is a box.", "label": "true", "identifier": identifier}
        lines.append(json.dumps(record | {"directory": directory, "structured_rep": []}))
    (folder / f"{split}.json").write_text("\n".join(lines) + "\n")
    return folder


def dominant(image: torch.Tensor) -> tuple[int, ...]:
    """The most common colour of a uint8 [3, H, W] image."""
    colours, counts = torch.unique(image.reshape(3, -1).T, dim=0, return_counts=True)
    return tuple(colours[counts.argmax()].tolist())


PICTURES = {"0/10-0": [RED, BLUE, YELLOW], "0/10-1": [GREEN, RED, BLUE], "1/11-0": [BLUE] * 3}


def test_bars_are_found_from_the_pixels_not_from_offsets():
    pixels = draw_picture([RED, BLUE, YELLOW], box=70, bar=23, frame=4)
    spans, rows = nlvr.find_boxes(pixels)
    assert spans == [(4, 74), (97, 167), (190, 260)]
    assert rows == (4, 74)
    # No grey bars: not found, and the standard cut is three squares spread evenly.
    assert nlvr.find_boxes(draw_picture([RED, BLUE, YELLOW], bars=False)) is None
    assert nlvr.standard_boxes(100, 400) == [(0, 100), (150, 250), (300, 400)]
    assert nlvr.standard_boxes(100, 240) == [(0, 80), (80, 160), (160, 240)]
    # Two greys of different shades are not the pair of bars.
    pixels[:, 74:97] = 60
    assert nlvr.find_boxes(pixels) is None


def test_each_picture_gives_its_three_boxes_in_order(tmp_path):
    make_release(tmp_path, PICTURES, orders=range(6), box=70, bar=23, frame=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every picture's bars found: no standard cuts
        data = nlvr.load_nlvr(tmp_path, "train")
    # One order per example: the other five hold the same boxes.
    assert data.images.shape == (9, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.labels is None and data.class_names == []
    expected = [colour for colours in PICTURES.values() for colour in colours]
    assert [dominant(image) for image in data.images] == expected
    # Cut exactly at the box edges: the black corner shape is in the corner, no grey anywhere.
    assert (data.images[:, :, :2, :2] == 0).all()
    assert (data.images[:, :, -1, -1] == 255).all()
    _, names, _ = nlvr.read_nlvr(tmp_path / "train", 64)
    assert names[:4] == ["10-0#0", "10-0#1", "10-0#2", "10-1#0"]


def test_load_dataset_dispatches_nlvr_specs(tmp_path):
    make_release(tmp_path, PICTURES)
    spec = f"nlvr:{tmp_path / 'train'}"
    assert dataset_kind(spec) == "nlvr"
    assert native_shape(DataConfig(dataset=spec)) == (64, 3)
    data = load_dataset(DataConfig(dataset=spec, img_size=32, min_images=1))
    assert data.images.shape == (9, 3, 32, 32)
    assert dominant(data.images[0]) == RED
    with pytest.raises(GankitError, match="fewer than min_images=16"):
        load_dataset(DataConfig(dataset=spec))


def test_test_split_is_the_test_folder_beside_train(tmp_path):
    make_release(tmp_path, PICTURES)
    with pytest.raises(GankitError, match="no NLVR test split beside"):
        nlvr.load_nlvr(tmp_path / "train", "test")
    make_release(tmp_path, {"3/20-0": [GREEN, GREEN, RED]}, split="test")
    for root in (tmp_path, tmp_path / "train", tmp_path / "test"):
        data = nlvr.load_nlvr(root, "test")
        assert [dominant(image) for image in data.images] == [GREEN, GREEN, RED]


def test_boxes_are_cut_once_then_read_from_the_cache(tmp_path, monkeypatch):
    folder = make_release(tmp_path, PICTURES)
    first = nlvr.load_nlvr(folder, "train")

    def refuse(path, size):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(nlvr, "cut_picture", refuse)
    again = nlvr.load_nlvr(folder, "train")
    assert torch.equal(first.images, again.images) and "cut earlier" in again.source
    # A changed picture is a different key: it is cut afresh (and here refused, so skipped).
    picture = folder / "images/0/train-10-0-0.png"
    os.utime(picture, ns=(1, 1))
    refused = pytest.raises(GankitError, match="no readable NLVR pictures")
    with pytest.warns(UserWarning, match="skipped 3 of 3"), refused:
        nlvr.load_nlvr(folder, "train")


def test_missing_and_unreadable_pictures_are_skipped_and_reported_once(tmp_path):
    folder = make_release(tmp_path, PICTURES)
    (folder / "images/0/train-10-1-0.png").write_text("not a png")
    (folder / "images/1/train-11-0-0.png").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = nlvr.load_nlvr(folder, "train")
    assert data.images.shape[0] == 3 and dominant(data.images[0]) == RED
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "skipped 2 of 3" in message and "no picture" in message and "not an image" in message


def test_pictures_without_bars_are_cut_at_the_standard_geometry(tmp_path):
    folder = make_release(tmp_path, {"0/10-0": [RED, BLUE, YELLOW]})
    picture = draw_picture([RED, BLUE, YELLOW], bars=False)
    Image.fromarray(picture).save(folder / "images/0/train-10-0-0.png")
    with pytest.warns(UserWarning, match="1 NLVR pictures .* had no two grey bars"):
        data = nlvr.load_nlvr(folder, "train")
    assert [dominant(image) for image in data.images] == [RED, BLUE, YELLOW]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nlvr", "NLVR is not on this machine - download the images from github.com/lil-lab"),
        ("nlvr:", "nlvr: needs a path"),
        ("nlvr:/no/such/folder", r"NLVR is not at /no/such/folder \(no such folder\)"),
    ],
)
def test_specs_without_data_say_where_to_get_it(spec, message):
    with pytest.raises(GankitError, match=message) as error:
        dataset_kind(spec)
    assert "\n" not in str(error.value) and "nlvr:PATH" in str(error.value)


def test_folders_that_are_not_nlvr_are_refused_with_the_fix(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(GankitError, match="is not an NLVR folder .* nlvr:.../nlvr/train"):
        nlvr.load_nlvr(tmp_path / "plain", "train")
    folder = make_release(tmp_path, PICTURES)
    (folder / "train.json").unlink()
    with pytest.raises(GankitError, match="no NLVR JSON file in .* copy train.json"):
        nlvr.load_nlvr(folder, "train")
    (folder / "a.json").write_text("")
    (folder / "b.json").write_text("")
    with pytest.raises(GankitError, match=r"several JSON files .*\(a.json, b.json\)"):
        nlvr.load_nlvr(folder, "train")


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("{not json", "not a JSON object"),
        ('["a list"]', "not a JSON object"),
        ('{"identifier": "10-0"}', "no 'directory' field"),
    ],
)
def test_malformed_json_lines_name_the_line(tmp_path, line, what):
    folder = make_release(tmp_path, PICTURES)
    good = (folder / "train.json").read_text()
    (folder / "train.json").write_text(good + "\n" + line + "\n")
    with pytest.raises(GankitError, match=f"train.json line 5 is {what}.*release's train.json"):
        nlvr.load_nlvr(folder, "train")


def test_no_pictures_at_all_says_where_to_get_them(tmp_path):
    folder = make_release(tmp_path, PICTURES)
    for picture in (folder / "images").rglob("*.png"):
        picture.unlink()
    refused = pytest.raises(GankitError, match="no readable NLVR pictures .*github.com/lil-lab")
    with pytest.warns(UserWarning, match="skipped 3 of 3"), refused:
        nlvr.load_nlvr(folder, "train")
