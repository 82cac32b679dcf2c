"""IDX reading: gz and raw round trips, and clear errors for damaged or foreign files."""

import gzip
import struct

import numpy as np
import pytest
import torch

from gankit.data import idx
from gankit.errors import GankitError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 7, 6), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_images_round_trip(tmp_path, images, gz):
    path = tmp_path / ("imgs.gz" if gz else "imgs")
    data = idx_bytes(images)
    path.write_bytes(gzip.compress(data) if gz else data)
    out = idx.read_images(path)
    assert out.dtype == torch.uint8 and out.shape == (5, 1, 7, 6) and out.is_contiguous()
    assert np.array_equal(out[:, 0].numpy(), images)


@pytest.mark.parametrize("gz", [False, True])
def test_labels_round_trip(tmp_path, gz):
    labels = np.array([9, 0, 0, 3, 255], dtype=np.uint8)
    path = tmp_path / "labels"
    path.write_bytes(gzip.compress(idx_bytes(labels)) if gz else idx_bytes(labels))
    out = idx.read_labels(path)
    assert out.dtype == torch.int64 and out.tolist() == [9, 0, 0, 3, 255]


def test_gzip_detected_by_content_not_name(tmp_path, images):
    path = tmp_path / "train-images-idx3-ubyte"  # no .gz, but gzipped
    path.write_bytes(gzip.compress(idx_bytes(images)))
    assert idx.read_images(path).shape == (5, 1, 7, 6)


def one_line_error(path, fn=idx.read_images) -> str:
    with pytest.raises(GankitError) as info:
        fn(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_truncated_file(tmp_path, images):
    path = tmp_path / "imgs"
    path.write_bytes(idx_bytes(images)[:-10])
    assert "truncated" in one_line_error(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "imgs"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    assert "truncated" in one_line_error(path)


def test_trailing_bytes(tmp_path, images):
    path = tmp_path / "imgs"
    path.write_bytes(idx_bytes(images) + b"extra")
    assert "longer" in one_line_error(path)


def test_truncated_gzip(tmp_path, images):
    path = tmp_path / "imgs.gz"
    path.write_bytes(gzip.compress(idx_bytes(images))[:-20])
    assert "gzip" in one_line_error(path)


def test_foreign_file(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert "not an IDX file" in one_line_error(path)


def test_labels_file_read_as_images(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)))
    assert "1 dimensions" in one_line_error(path)


def test_missing_file(tmp_path):
    assert "cannot read" in one_line_error(tmp_path / "nope", idx.read_labels)
