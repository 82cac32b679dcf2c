"""Image folders: every format and mode, bad files skipped in one warning, the cache."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import folder, load_dataset
from gankit.errors import GankitError

GOOD = [
    "cats/alpha.png",
    "cats/cmyk.jpg",
    "cats/grey-alpha.png",
    "cats/palette.png",
    "cats/rgb.jpg",
    "dogs/UPPER.PNG",
    "dogs/gray16.png",
    "dogs/img.bmp",
    "dogs/more/nested.jpeg",
    "dogs/photo.webp",
]
BAD = {"cats/text.jpg": "not an image", "cats/truncated.jpg": "corrupt", "dogs/empty.png": "empty"}


def solid(mode: str, colour, size=(32, 32)) -> Image.Image:
    return Image.new(mode, size, colour)


def make_folder(root: Path) -> Path:
    (root / "cats").mkdir(parents=True)
    (root / "dogs" / "more").mkdir(parents=True)
    # Left half fully transparent black, right half opaque blue: left must come out white.
    alpha = np.zeros((32, 32, 4), dtype=np.uint8)
    alpha[:, 16:] = (0, 0, 255, 255)
    Image.fromarray(alpha, "RGBA").save(root / "cats/alpha.png")
    solid("CMYK", (0, 255, 255, 0)).save(root / "cats/cmyk.jpg", quality=95)
    solid("LA", (0, 0)).save(root / "cats/grey-alpha.png")  # transparent black -> white
    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.paste(1, (16, 0, 32, 32))  # right half green, left half index 0 = transparent
    palette.save(root / "cats/palette.png", transparency=0)
    solid("RGB", (255, 0, 0), (40, 30)).save(root / "cats/rgb.jpg", quality=95)
    solid("RGB", (0, 0, 255)).save(root / "dogs/UPPER.PNG")
    grey16 = np.full((32, 32), 65535, dtype=np.uint16)
    grey16[:, 16:] = 32896  # 128 * 257
    Image.fromarray(grey16).save(root / "dogs/gray16.png")
    solid("RGB", (0, 255, 0)).save(root / "dogs/img.bmp")
    solid("RGB", (10, 20, 30)).save(root / "dogs/more/nested.jpeg")
    solid("RGB", (200, 100, 50)).save(root / "dogs/photo.webp", lossless=True)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "cats/full.jpg")
    data = (root / "cats/full.jpg").read_bytes()
    (root / "cats/full.jpg").unlink()
    (root / "cats/truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "cats/text.jpg").write_text("not really a jpeg")
    (root / "dogs/empty.png").write_bytes(b"")
    (root / "cats/notes.txt").write_text("ignored: not an image extension")
    solid("RGB", (1, 2, 3)).save(root / "cats/.hidden.png")
    (root / ".thumbs").mkdir()
    solid("RGB", (1, 2, 3)).save(root / ".thumbs/x.png")
    return root


@pytest.fixture(autouse=True)
def cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "folders"


@pytest.fixture(scope="module")
def images_root(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("images"))


def load(root, size=16, channels=3, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = folder.load_folder(root, size, channels, **kwargs)
    return data, [str(w.message) for w in caught]


def image(data, name: str) -> np.ndarray:
    """[H, W, C] of the image loaded from ``name`` (files load in sorted path order)."""
    return data.images[GOOD.index(name)].permute(1, 2, 0).numpy().astype(int)


def test_listing_skips_hidden_and_other_files(images_root):
    listing, others = folder.list_images(images_root)
    assert [rel for rel, _, _ in listing] == sorted(GOOD + list(BAD))
    assert others == 1


def test_counts_labels_and_one_warning(images_root):
    data, messages = load(images_root)
    assert data.images.shape == (len(GOOD), 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.images.is_contiguous()
    assert data.class_names == ["cats", "dogs"]
    assert data.labels.tolist() == [0] * 5 + [1] * 5
    assert len(messages) == 1 and "skipped 3 of 13" in messages[0] and "\n" not in messages[0]
    for name, reason in BAD.items():
        assert reason in messages[0] and Path(name).name in messages[0]


def test_colours_after_conversion(images_root):
    data, _ = load(images_root)
    assert np.allclose(image(data, "cats/alpha.png")[8, 2], [255, 255, 255])
    assert np.allclose(image(data, "cats/alpha.png")[8, 13], [0, 0, 255])
    assert np.allclose(image(data, "cats/palette.png")[8, 2], [255, 255, 255])
    assert np.allclose(image(data, "cats/palette.png")[8, 13], [0, 255, 0])
    assert np.allclose(image(data, "cats/grey-alpha.png"), 255)
    assert np.allclose(image(data, "cats/cmyk.jpg"), [255, 0, 0], atol=8)
    assert np.allclose(image(data, "cats/rgb.jpg"), [255, 0, 0], atol=8)
    assert np.allclose(image(data, "dogs/gray16.png")[8, 2], 255)
    assert np.allclose(image(data, "dogs/gray16.png")[8, 13], 128)
    assert np.allclose(image(data, "dogs/photo.webp"), [200, 100, 50])
    assert np.allclose(image(data, "dogs/img.bmp"), [0, 255, 0])


def test_grey_output_uses_luma(images_root):
    data, _ = load(images_root, size=8, channels=1)
    assert data.images.shape == (len(GOOD), 1, 8, 8)
    assert abs(int(data.images[GOOD.index("dogs/UPPER.PNG")].float().mean()) - 29) <= 1  # blue


def test_second_load_reads_the_cache(images_root, cache_dir, monkeypatch):
    first, _ = load(images_root)
    assert len(list(cache_dir.glob("*.safetensors"))) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(folder, "decode_image", no_decoding)
    second, messages = load(images_root)
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert second.class_names == first.class_names and "decoded earlier" in second.source
    assert len(messages) == 1  # the skipped files are still reported


def test_cache_keyed_by_content_and_options(tmp_path, cache_dir, monkeypatch):
    root = tmp_path / "few"
    root.mkdir()
    for i in range(3):
        solid("RGB", (i, 0, 0)).save(root / f"{i}.png")
    calls = []
    real = folder.decode_image
    monkeypatch.setattr(folder, "decode_image", lambda *a: calls.append(a) or real(*a))
    load(root)
    load(root, size=8)  # other preprocessing
    solid("RGB", (9, 9, 9)).save(root / "3.png")  # other content
    data, _ = load(root)
    assert len(calls) == 3 + 3 + 4 and data.images.shape[0] == 4
    assert len(list(cache_dir.glob("*.safetensors"))) == 3
    assert not list(cache_dir.glob("*.tmp"))


def test_too_few_usable_images(images_root):
    with pytest.raises(GankitError) as info:
        load(images_root, min_images=11)
    message = str(info.value)
    assert "10 usable images out of 13 image files" in message and "\n" not in message


def test_decompression_bombs_are_refused(tmp_path, monkeypatch):
    root = tmp_path / "bombs"
    root.mkdir()
    for i in range(3):
        solid("RGB", (0, 0, 0), (8, 8)).save(root / f"small{i}.png")
    solid("RGB", (0, 0, 0), (40, 40)).save(root / "warns.png")  # 1600 px: Pillow only warns
    solid("RGB", (0, 0, 0), (64, 64)).save(root / "errors.png")  # 4096 px: Pillow errors
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data, messages = load(root)
    assert data.images.shape[0] == 3
    assert len(messages) == 1 and "2 decompression bomb" in messages[0]


def test_single_subfolder_or_no_labels_is_unlabelled(images_root, tmp_path):
    data, _ = load(images_root, use_labels=False)
    assert data.labels is None and data.class_names == []
    root = tmp_path / "one"
    (root / "only").mkdir(parents=True)
    for i in range(2):
        solid("RGB", (0, 0, 0)).save(root / "only" / f"{i}.png")
    data, _ = load(root)
    assert data.labels is None and data.class_names == []


def test_images_beside_class_folders_are_an_error(tmp_path):
    root = tmp_path / "mixed"
    for sub in ("a", "b"):
        (root / sub).mkdir(parents=True)
        solid("RGB", (0, 0, 0)).save(root / sub / "x.png")
    solid("RGB", (0, 0, 0)).save(root / "top.png")
    with pytest.raises(GankitError, match="--use-labels false"):
        load(root)
    data, _ = load(root, use_labels=False)
    assert data.images.shape[0] == 3


def test_load_dataset_defaults_and_no_test_split(images_root):
    cfg = DataConfig(dataset=str(images_root), min_images=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset(cfg)
    assert data.images.shape == (len(GOOD), 3, 64, 64) and data.name == str(images_root)
    with pytest.raises(GankitError, match="no test split"):
        load_dataset(cfg, split="test")


def test_missing_folder(tmp_path):
    with pytest.raises(GankitError, match="no image folder"):
        folder.load_folder(tmp_path / "nope", 16, 3)


def test_damaged_or_unwritable_cache_is_not_fatal(tmp_path, cache_dir, monkeypatch):
    root = tmp_path / "few"
    root.mkdir()
    for i in range(2):
        solid("RGB", (i, 0, 0)).save(root / f"{i}.png")
    first, _ = load(root)
    (cache_file,) = cache_dir.glob("*.safetensors")
    cache_file.write_bytes(b"garbage")
    second, messages = load(root)  # decodes again and rewrites the cache
    assert torch.equal(first.images, second.images) and messages == []
    assert cache_file.stat().st_size > 100
    cache_file.unlink()

    def read_only(*args):
        raise OSError("read-only file system")

    monkeypatch.setattr(folder, "save_tensors", read_only)
    third, messages = load(root)
    assert torch.equal(first.images, third.images)
    assert len(messages) == 1 and "could not cache" in messages[0]
