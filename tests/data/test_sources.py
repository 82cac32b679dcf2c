"""Finding and downloading IDX files, without ever touching the network."""

import gzip
import hashlib
import http.server
import struct
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from gankit.config import DataConfig
from gankit.data import load_dataset, sources
from gankit.errors import GankitError

REAL_FETCH = sources.fetch
STEMS = [stem for pair in sources.SPLIT_FILES.values() for stem in pair]


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No user files, no system files, no network."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setattr(
        sources, "SYSTEM_DIRS", {"fashion-mnist": [tmp_path / "system"], "mnist": []}
    )

    def no_network(url, dest, timeout=0):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(sources, "fetch", no_network)


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def fake_files(mark: int) -> dict[str, bytes]:
    """The four .gz files of a 3-image dataset whose pixels all equal ``mark``."""
    images = np.full((3, 28, 28), mark, dtype=np.uint8)
    labels = np.array([1, 2, 3], dtype=np.uint8)
    return {s + ".gz": idx_gz(images if "images" in s else labels) for s in STEMS}


def write_files(folder: Path, mark: int, gz: bool = True, dotted: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in fake_files(mark).items():
        name = name.replace("-idx", ".idx") if dotted else name
        if gz:
            (folder / name).write_bytes(data)
        else:
            (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    return folder


def mark_of(name: str, data_dir: str = "") -> int:
    images, _, _ = sources.locate(name, "train", data_dir)
    data = images.read_bytes()
    return gzip.decompress(data)[-1] if images.suffix == ".gz" else data[-1]


def test_search_order(tmp_path, monkeypatch):
    write_files(tmp_path / "system", 4)
    assert mark_of("fashion-mnist") == 4
    write_files(tmp_path / "cache" / "fashion-mnist", 3)
    assert mark_of("fashion-mnist") == 3
    write_files(tmp_path / "env" / "fashion-mnist", 2)  # $GANKIT_DATA/<name>
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    assert mark_of("fashion-mnist") == 2
    write_files(tmp_path / "env", 5)  # $GANKIT_DATA itself comes before its subfolder
    assert mark_of("fashion-mnist") == 5
    write_files(tmp_path / "given", 1)
    assert mark_of("fashion-mnist", str(tmp_path / "given")) == 1


def test_source_names_the_debian_package(tmp_path):
    write_files(tmp_path / "system", 4)
    _, _, source = sources.locate("fashion-mnist", "test")
    assert str(tmp_path / "system") in source and "dataset-fashion-mnist" in source


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, True), (False, True)])
def test_uncompressed_and_kaggle_names(tmp_path, gz, dotted):
    write_files(tmp_path / "d", 7, gz=gz, dotted=dotted)
    assert mark_of("mnist", str(tmp_path / "d")) == 7


def test_torchvision_layout(tmp_path):
    write_files(tmp_path / "d" / "MNIST" / "raw", 6)
    assert mark_of("mnist", str(tmp_path / "d")) == 6


def one_line_error(name: str) -> str:
    with pytest.raises(GankitError) as info:
        sources.locate(name, "train")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_names_the_three_ways():
    message = one_line_error("fashion-mnist")
    assert "network disabled in tests" in message
    for way in ("--data-dir", "$GANKIT_DATA", "apt-get install dataset-fashion-mnist"):
        assert way in message
    assert "copy the four files into" in one_line_error("mnist")


def test_missing_through_load_dataset(tmp_path):
    with pytest.raises(GankitError, match="--data-dir"):
        load_dataset(DataConfig(dataset="mnist"))


def serve(files: dict[str, bytes]):
    """A fake fetch that serves ``files`` by the last part of the URL, recording URLs."""
    urls = []

    def fetch(url, dest, timeout=0):
        urls.append(url)
        name = url.rsplit("/", 1)[1]
        if name not in files:
            raise OSError(f"404 {url}")
        Path(dest).write_bytes(files[name])

    return fetch, urls


@pytest.fixture
def mnist_md5(monkeypatch):
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in fake_files(9).items()}
    monkeypatch.setitem(sources.MD5, "mnist", md5)


def test_download_verifies_and_caches(tmp_path, monkeypatch, mnist_md5):
    fetch, urls = serve(fake_files(9))
    monkeypatch.setattr(sources, "fetch", fetch)
    data = load_dataset(DataConfig(dataset="mnist", split="test"))
    assert data.images.shape == (3, 1, 28, 28) and int(data.images.max()) == 9
    assert "downloaded from https://ossci-datasets.s3.amazonaws.com/mnist/" in data.source
    assert len(urls) == 2 and all(u.startswith(sources.MIRRORS["mnist"][0]) for u in urls)
    cached = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert cached == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    load_dataset(DataConfig(dataset="mnist", split="test"))  # found in the cache now
    assert len(urls) == 2


def test_checksum_mismatch_deletes_and_reports(tmp_path, monkeypatch, mnist_md5):
    fetch, urls = serve(fake_files(8))  # other bytes than the published checksums
    monkeypatch.setattr(sources, "fetch", fetch)
    with pytest.raises(GankitError, match="checksum mismatch") as info:
        sources.locate("mnist", "train")
    assert "\n" not in str(info.value) and len(urls) == 2  # both mirrors tried
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_second_mirror_used_when_first_fails(monkeypatch, mnist_md5):
    files = fake_files(9)

    def fetch(url, dest, timeout=0):
        if url.startswith(sources.MIRRORS["mnist"][0]):
            raise OSError("connection refused")
        Path(dest).write_bytes(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(sources, "fetch", fetch)
    _, _, source = sources.locate("mnist", "train")
    assert sources.MIRRORS["mnist"][1] in source


def test_real_fetch_from_a_local_server(tmp_path, monkeypatch, mnist_md5):
    """The urllib path, against a server on 127.0.0.1 (never the internet)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    served = write_files(tmp_path / "served", 9)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Quiet, directory=str(served))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        monkeypatch.setitem(sources.MIRRORS, "mnist", [base + "missing/", base])
        images, labels, source = sources.locate("mnist", "train", fetch_fn=REAL_FETCH)
    finally:
        server.shutdown()
        server.server_close()
    assert images.read_bytes() == fake_files(9)["train-images-idx3-ubyte.gz"]
    assert labels.parent == tmp_path / "cache" / "mnist" and base in source
