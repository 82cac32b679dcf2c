"""Hostile data files: each is decoded, skipped and reported, or refused in one line.

Image folders: odd but valid files decode correctly; corrupt ones are skipped and
named in one warning; a folder with nothing usable is one error line. CSV and IDX
files: every defect is one ``GankitError`` line. The CLI turns those into one
stderr line and a non-zero exit, and no file in the data, cache or run folder
changes on the way.
"""

import gzip
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import features
from safetensors.torch import save_file

from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import folder, idx, load_dataset
from gankit.data.csv import read_csv
from gankit.errors import GankitError
from tests.data.hostile_files import (
    BLUE,
    GREEN,
    HEADER,
    IMAGES,
    RED,
    animated,
    cmyk,
    csv_text,
    exif_rotated,
    fingerprint,
    idx_bytes,
    idx_header,
    non_utf8_name,
    one_pixel,
    palette_transparency,
    row,
    sixteen_bit,
    solid,
    truncated,
    two_good,
    write_bomb,
    write_huge_header,
    write_split,
)


@pytest.fixture(autouse=True)
def cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "folders"


def load(root, size=16, channels=3, **kwargs):
    """(ImageData, warning messages) of one folder load."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = folder.load_folder(root, size, channels, **kwargs)
    return data, [str(w.message) for w in caught]


def pixels(data, i=0) -> np.ndarray:
    return data.images[i].permute(1, 2, 0).numpy().astype(int)


def one_line_error(call) -> str:
    with pytest.raises(GankitError) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message and " - " in message  # what is wrong - how to fix
    return message


# --- image folders: odd but valid files are decoded ----------------------------------


def _upright(image: np.ndarray) -> bool:
    # Turned clockwise, the stored left (red) becomes the top: top right red, bottom left blue.
    return np.allclose(image[2, 13], RED, atol=24) and np.allclose(image[13, 2], BLUE, atol=24)


ODD_BUT_VALID = {
    "cmyk-jpeg": (cmyk, lambda im: np.allclose(im, RED, atol=8)),
    "16-bit-png": (sixteen_bit, lambda im: np.allclose(im, 128)),
    "palette-transparency": (
        palette_transparency,
        lambda im: np.allclose(im[8, 2], 255) and np.allclose(im[8, 13], GREEN),
    ),
    "exif-rotated-jpeg": (exif_rotated, _upright),
    "animated-gif": (lambda root: animated(root, "anim.gif"), lambda im: np.allclose(im, RED)),
    "animated-webp": (
        lambda root: animated(root, "anim.webp", lossless=True),
        lambda im: np.allclose(im, RED),
    ),
    "1x1": (one_pixel, lambda im: np.allclose(im, (10, 200, 30))),
    "non-utf8-name": (non_utf8_name, lambda im: np.allclose(im, RED)),
}


@pytest.mark.parametrize("case", list(ODD_BUT_VALID))
def test_odd_but_valid_files_are_decoded(case, tmp_path):
    if case == "animated-webp" and not features.check("webp"):
        pytest.skip("this Pillow has no WebP support")
    make, looks_right = ODD_BUT_VALID[case]
    root = tmp_path / "odd"
    root.mkdir()
    make(root)
    data, messages = load(root)
    assert messages == [] and data.images.shape == (1, 3, 16, 16)
    assert looks_right(pixels(data)), pixels(data)[::5, ::5].tolist()


# --- image folders: corrupt files are skipped and reported once -----------------------


def _symlink_loop(root: Path) -> None:
    os.symlink("loop-b.png", root / "loop-a.png")
    os.symlink("loop-a.png", root / "loop-b.png")


def _unreadable_by_mode(root: Path) -> None:
    solid(root / "locked.png")
    os.chmod(root / "locked.png", 0)


# case -> (make the bad entries, how many, the reason the warning gives)
CORRUPT = {
    "decompression-bomb": (lambda root: write_bomb(root / "bomb.png"), 1, "decompression bomb"),
    "truncated-png": (lambda root: truncated(root / "cut.png", "PNG"), 1, "corrupt or truncated"),
    "truncated-jpeg": (lambda root: truncated(root / "cut.jpg", "JPEG"), 1, "corrupt or truncated"),
    "empty-file": (lambda root: (root / "empty.png").write_bytes(b""), 1, "empty file"),
    "30000x30000-header": (
        lambda root: write_huge_header(root / "huge.png"),
        1,
        "decompression bomb",
    ),
    "text-named-png": (lambda root: (root / "notes.png").write_text("hello"), 1, "not an image"),
    "chmod-000": (_unreadable_by_mode, 1, "unreadable (permission denied)"),
    "symlink-loop": (_symlink_loop, 2, "symbolic link loop"),
    "dangling-link": (lambda root: os.symlink("gone.png", root / "link.png"), 1, "broken link"),
    "fifo": (lambda root: os.mkfifo(root / "pipe.png"), 1, "not a regular file"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_files_are_skipped_and_reported_once(case, tmp_path):
    if case == "chmod-000" and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode; see the simulated case below")
    make, count, reason = CORRUPT[case]
    root = two_good(tmp_path / "mixed")
    make(root)
    data, messages = load(root)
    assert data.images.shape[0] == 2 and np.allclose(pixels(data), GREEN)
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert f"skipped {count} of {2 + count} image files" in messages[0]
    assert f"{count} {reason}" in messages[0]


def test_a_directory_symlink_loop_is_not_followed(tmp_path):
    root = two_good(tmp_path / "looped")
    os.symlink(".", root / "again")
    os.symlink("..", root / "up.png")  # a folder link with an image name: a folder all the same
    data, messages = load(root)
    assert data.images.shape[0] == 2 and messages == []


def _deny(path_part: str, monkeypatch) -> None:
    """Makes opening any path containing ``path_part`` fail as without read permission."""
    real_open = open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes, Path)) and path_part in os.fsdecode(file):
            raise PermissionError(13, "Permission denied", os.fsdecode(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)


def test_unreadable_file_is_skipped_and_not_cached(tmp_path, cache_dir, monkeypatch):
    root = two_good(tmp_path / "locked")
    solid(root / "locked.png", BLUE)
    with monkeypatch.context() as patch:
        _deny("locked.png", patch)
        data, messages = load(root)
    assert data.images.shape[0] == 2 and "not cached" in data.source
    assert len(messages) == 1 and "1 unreadable (permission denied)" in messages[0]
    assert not list(cache_dir.glob("*.safetensors"))  # granting access must not need a touch
    data, messages = load(root)
    assert data.images.shape[0] == 3 and messages == []


def test_unreadable_subfolder_is_reported(tmp_path, monkeypatch):
    root = two_good(tmp_path / "parent")
    (root / "private").mkdir()
    solid(root / "private" / "x.png")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "private":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(folder.os, "scandir", scandir)
    data, messages = load(root, use_labels=False)
    assert data.images.shape[0] == 2
    assert len(messages) == 1 and "private/ (folder unreadable (permission denied))" in messages[0]


def test_file_deleted_during_the_scan_is_skipped_and_not_cached(tmp_path, cache_dir, monkeypatch):
    root = two_good(tmp_path / "racing")
    solid(root / "brief.png", BLUE)
    real_scan = folder.scan_folder

    def scan_then_delete(path):
        scan = real_scan(path)
        (root / "brief.png").unlink()  # gone between the listing and its decoding
        return scan

    monkeypatch.setattr(folder, "scan_folder", scan_then_delete)
    data, messages = load(root)
    assert data.images.shape[0] == 2 and not list(cache_dir.glob("*.safetensors"))
    assert len(messages) == 1 and "1 vanished while loading" in messages[0]


def test_names_in_messages_stay_on_one_line(tmp_path):
    root = two_good(tmp_path / "names")
    (root / "two\nlines.png").write_text("not an image")
    Path(os.fsdecode(os.path.join(os.fsencode(root), b"bad-\xff.png"))).write_bytes(b"")
    _, messages = load(root)
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "two\\nlines.png" in messages[0] and "bad-\\xff.png" in messages[0]
    messages[0].encode("utf-8")  # printable anywhere: no lone surrogates


def test_a_folder_with_nothing_usable_is_one_error(tmp_path):
    root = tmp_path / "ruined"
    root.mkdir()
    (root / "empty.png").write_bytes(b"")
    (root / "notes.png").write_text("hello")
    truncated(root / "cut.jpg", "JPEG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error says it all: no warning beside it
        message = one_line_error(lambda: folder.load_folder(root, 16, 3))
    assert "0 usable images out of 3 image files" in message
    for reason in ("1 empty file", "1 not an image", "1 corrupt or truncated"):
        assert reason in message


def test_a_damaged_cache_of_the_wrong_shape_is_decoded_afresh(tmp_path, cache_dir):
    root = two_good(tmp_path / "cached")
    first, _ = load(root)
    (cache_file,) = cache_dir.glob("*.safetensors")
    save_file({"images": torch.zeros(5, 3, 8, 8, dtype=torch.uint8)}, str(cache_file))
    second, messages = load(root)
    assert torch.equal(first.images, second.images) and messages == []
    metadata = {"class_names": "[]", "skipped": "[1, [2]]"}  # right shape, wrong notes
    save_file({"images": torch.zeros(2, 3, 16, 16, dtype=torch.uint8)}, str(cache_file), metadata)
    third, messages = load(root)
    assert torch.equal(first.images, third.images) and messages == []


# --- CSV files: every defect is one line ------------------------------------------------

BAD_CSV = {
    "ragged-rows": (csv_text(row(), row()[:-5]), "not a clean CSV of integers"),
    "non-numeric-cell": (csv_text(row(), row(value="x")), "not a clean CSV of integers"),
    "fractional-cell": (csv_text(row(value=2.5)), "not a clean CSV of integers"),
    "above-255": (csv_text(row(), row(value=256)), "outside 0..255"),
    "negative-pixel": (csv_text(row(value=-1)), "outside 0..255"),
    "beyond-int32": (csv_text(row(value=3_000_000_000)), "not a clean CSV of integers"),
    "negative-label": (csv_text(row(label=-2)), "negative labels"),
    "absurd-label": (csv_text(row(label=2_000_000_000)), "label 2000000000"),
    "header-only": (HEADER + "\n", "0 image rows"),
    "empty-file": ("", "is empty"),
    "wrong-header": ("a,b,c\n1,2,3\n", "does not start with the header"),
    "too-few-columns": ("label,pixel1,pixel2\n1,2,3\n", "has 3 columns"),
    "one-endless-line": ("label" + ",pixel" * 200_000, "columns"),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_bad_csv_is_one_line(case, tmp_path):
    text, expected = BAD_CSV[case]
    path = tmp_path / "digits.csv"
    path.write_text(text, encoding="utf-8")
    assert expected in one_line_error(lambda: read_csv(path))


def test_binary_junk_named_csv_is_one_line(tmp_path):
    path = tmp_path / "junk.csv"
    path.write_bytes(HEADER.encode() + b"\n" + bytes(range(256)) * 20)
    assert "not a clean CSV" in one_line_error(lambda: read_csv(path))


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("\ufeff" + csv_text(row(label=1, value=9), row(label=0, value=200)), "utf-8")
    data = read_csv(path)
    assert data.images.shape == (2, 1, 28, 28) and data.labels.tolist() == [1, 0]
    assert data.images[0].unique().tolist() == [9] and data.images[1].unique().tolist() == [200]


# --- IDX files: every defect is one line, and nothing huge is allocated ----------------


BAD_IDX = {
    "wrong-magic": (b"\x00\x01\x08\x03" + idx_bytes(IMAGES)[4:], "bad magic number"),
    "png-magic": (b"\x89PNG\r\n\x1a\n" + bytes(64), "bad magic number"),
    "truncated-body": (idx_bytes(IMAGES)[:-100], "is truncated"),
    "gzip-truncated": (gzip.compress(idx_bytes(IMAGES))[:-30], "damaged gzip file"),
    "gzip-no-trailer": (gzip.compress(idx_bytes(IMAGES))[:-8], "damaged gzip file"),
    "gzip-garbage": (b"\x1f\x8b" + bytes(100), "damaged gzip file"),
    "empty-file": (b"", "bad magic number"),
    "zero-images": (idx_header(0, 28, 28), "holds no data"),
    # 2**32-1 cubed wraps to a small number in int64 arithmetic: Python integers do not.
    "gigabytes-claimed": (idx_header(100_000, 10_000, 10_000) + bytes(64), "bytes of pixels"),
    "overflowing-dims": (idx_header(2**32 - 1, 2**32 - 1, 2**32 - 1), "bytes of pixels"),
}


@pytest.mark.parametrize("case", list(BAD_IDX))
def test_bad_idx_is_one_line(case, tmp_path):
    data, expected = BAD_IDX[case]
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(data)
    assert expected in one_line_error(lambda: idx.read_images(path))


def test_gzip_bomb_is_refused_before_decompressing(tmp_path, monkeypatch):
    # A header claiming 4.3 GB: refusing it must read the header and nothing more.
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(idx_header(65_537, 256, 256))
        f.write(bytes(1 << 20))  # the rest need not exist: the header alone is refused
    reads = []
    real_read = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda f, n=-1: reads.append(n) or real_read(f, n))
    assert "bytes of pixels" in one_line_error(lambda: idx.read_images(path))
    assert all(0 <= n <= 16 for n in reads)  # only the header was read


def test_image_and_label_counts_must_match(tmp_path):
    write_split(tmp_path / "mnist", IMAGES, np.zeros(3, dtype=np.uint8))
    cfg = DataConfig(dataset="mnist", data_dir=str(tmp_path / "mnist"))
    message = one_line_error(lambda: load_dataset(cfg))
    assert "holds 4 images but" in message and "3 labels" in message


def test_a_good_idx_split_still_loads(tmp_path):
    write_split(tmp_path / "mnist", IMAGES, np.arange(4, dtype=np.uint8))
    data = load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path / "mnist")))
    assert data.images.shape == (4, 1, 28, 28) and data.labels.tolist() == [0, 1, 2, 3]
    assert torch.equal(data.images[:, 0].long(), torch.from_numpy(IMAGES))


# --- the CLI: one stderr line, a non-zero exit, and no file changed --------------------


def make_zoo(root: Path) -> Path:
    """One folder holding every odd and every corrupt case (but the FIFO and chmod)."""
    two_good(root)
    for make, _ in ODD_BUT_VALID.values():
        make(root)
    for case, (make, _, _) in CORRUPT.items():
        if case not in ("chmod-000", "fifo"):
            make(root)
    return root


def make_ruin(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "empty.png").write_bytes(b"")
    write_huge_header(root / "huge.png")
    return root


def cli_error(capsys, argv: list[str]) -> str:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_cli_answers_hostile_data_in_one_line_and_changes_nothing(tmp_path, cache_dir, capsys):
    zoo, ruin = make_zoo(tmp_path / "zoo"), make_ruin(tmp_path / "ruin")
    (tmp_path / "bad.csv").write_text(csv_text(row(), row(value=999)))
    write_split(tmp_path / "idx", IMAGES, np.zeros(2, dtype=np.uint8))
    load(two_good(tmp_path / "earlier"))  # a cache entry that must survive untouched
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("preset: someone-elses-run\n")
    before = {name: fingerprint(tmp_path / name) for name in ("zoo", "ruin", "idx", "run")}
    cache_before = fingerprint(cache_dir)

    data, messages = load(zoo)
    assert data.images.shape[0] == 2 + len(ODD_BUT_VALID) and len(messages) == 1
    train = [
        "train",
        "--preset",
        "flowers-dcgan",
        "--device",
        "cpu",
        "--quiet",
        "--min-images",
        "1",
    ]
    assert "0 usable images" in cli_error(
        capsys, [*train, "--dataset", str(ruin), "--out", str(run)]
    )
    new_run = tmp_path / "new-run"
    csv_argv = [*train, "--dataset", str(tmp_path / "bad.csv"), "--out", str(new_run)]
    assert "outside 0..255" in cli_error(capsys, csv_argv)
    idx_argv = ["dataset", "info", "mnist", "--data-dir", str(tmp_path / "idx")]
    assert "4 images but" in cli_error(capsys, idx_argv)
    assert "decompression bomb" in cli_error(capsys, ["dataset", "info", str(ruin)])

    after = {name: fingerprint(tmp_path / name) for name in ("zoo", "ruin", "idx", "run")}
    assert after == before and not new_run.exists()
    cache_after = fingerprint(cache_dir)
    assert {path: cache_after.get(path) for path in cache_before} == cache_before
