"""Image sources, feature extraction and the reference cache, with a tiny stand-in network.

The stand-in keeps everything but the network itself: sources, preprocessing to
299 px, re-batching, statistics, the cache and the comparison's protocol.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit import training
from gankit.config import DataConfig
from gankit.errors import GankitError
from gankit.metrics import METRICS, compare_sources, features, source_features
from gankit.metrics.sources import DatasetSource, FolderSource, GeneratorSource, open_source
from gankit.run import create_run
from tests.support import tiny_config


@pytest.fixture(autouse=True)
def fake_network(fake_inception):
    """Every test here runs on the stand-in network (see conftest)."""


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    return training.train(
        tiny_config(train={"steps": 3}), tmp_path_factory.mktemp("run") / "r", progress=False
    ).run


def _images(n, c=3, h=20, w=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)


def _features(source, n, batch_size=4):
    return source_features(source, n, batch_size=batch_size).features


def test_registry_names_the_metrics():
    assert METRICS.names() == ["fid", "kid", "prdc"]
    assert all(METRICS.get(name).description for name in METRICS.names())


def test_folder_of_mixed_sizes_and_modes(tmp_path):
    arrays = [_images(1, 3, 20, 24, seed=i)[0].permute(1, 2, 0).numpy() for i in range(3)]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(tmp_path / f"c{i}.png")
    Image.fromarray(arrays[0][:, :, 0]).save(tmp_path / "g0.png")  # grey, stays grey
    Image.fromarray(arrays[1][:8, :8, 0]).save(tmp_path / "g1.png")
    Image.fromarray(np.dstack([arrays[2], np.full((20, 24), 255, np.uint8)])).save(
        tmp_path / "rgba.png"  # opaque alpha: the same as its RGB
    )
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path))
    assert isinstance(source, FolderSource) and source.size == 6
    shapes = [tuple(b.shape) for b in source.batches(6, batch_size=2)]
    assert shapes == [(2, 3, 20, 24), (1, 3, 20, 24), (1, 1, 20, 24), (1, 1, 8, 8), (1, 3, 20, 24)]
    feats = _features(source, 6, batch_size=4)
    assert feats.shape == (6, 48) and feats.dtype == np.float64
    np.testing.assert_array_equal(feats[5], feats[2])  # rgba.png == c2.png
    with pytest.raises(GankitError, match=r"has 6 images, asked for 7 - use --n 6 or fewer"):
        _features(source, 7)


def test_a_smaller_n_is_a_seeded_subset(tmp_path):
    images = _images(12)
    np.savez(tmp_path / "a.npz", images=images.numpy())
    source = open_source(str(tmp_path / "a.npz"), seed=3)
    picked = torch.cat(list(source.batches(5, batch_size=2)))
    assert len(picked) == 5 and torch.equal(picked, torch.cat(list(source.batches(5, 3))))
    rows = [i for i in range(12) for p in picked if torch.equal(images[i], p)]
    assert rows == sorted(rows) and rows != list(range(5))
    assert "5 of 12 images (seed-3 subset)" in source.describe(5)


def test_npz_layouts_give_the_same_features(tmp_path):
    images = _images(5, 3, 16, 16)
    np.savez(tmp_path / "nchw.npz", images=images.numpy(), labels=np.arange(5))
    np.savez(tmp_path / "nhwc.npz", images.permute(0, 2, 3, 1).numpy())  # the single array
    np.save(tmp_path / "nhwc.npy", images.permute(0, 2, 3, 1).numpy())
    got = [
        _features(open_source(str(tmp_path / f)), 5) for f in ("nchw.npz", "nhwc.npz", "nhwc.npy")
    ]
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], got[2])
    np.savez(tmp_path / "grey.npz", images=images[:, 0].numpy())  # [N, H, W]
    assert open_source(str(tmp_path / "grey.npz")).images.shape == (5, 1, 16, 16)

    np.savez(tmp_path / "float.npz", images=images.numpy() / 255.0)
    with pytest.raises(GankitError, match="float64 values - FID needs uint8"):
        open_source(str(tmp_path / "float.npz"))
    np.savez(tmp_path / "two.npz", x=images.numpy(), y=images.numpy())
    with pytest.raises(GankitError, match="holds x, y - store the images under the key 'images'"):
        open_source(str(tmp_path / "two.npz"))


def test_dataset_specs_and_their_errors():
    source = open_source("shapes:test", seed=1)
    assert isinstance(source, DatasetSource) and source.split == "test" and source.size == 1666
    assert open_source("shapes").spec == "shapes:test"  # a bare built-in name: its test split
    with pytest.raises(GankitError, match="did you mean 'fashion-mnist'"):
        open_source("fashion-mnst:test")
    with pytest.raises(GankitError, match="unknown split 'val'"):
        open_source("shapes:val")
    with pytest.raises(GankitError, match="no such file, folder, run or dataset: nowhere/x"):
        open_source("nowhere/x")
    with pytest.raises(GankitError, match="has 1,666 images, asked for 2,000 - use --n 1666"):
        source_features(source, 2000)
    with pytest.raises(GankitError, match="at least 2"):
        source_features(source, 1)


def test_reference_features_are_cached(monkeypatch):
    calls = []
    real = features.inception_features
    monkeypatch.setattr(
        features, "inception_features", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    cfg = DataConfig(dataset="shapes", shapes_count=60)
    first = source_features(DatasetSource(cfg, "test"), 8)
    assert len(calls) == 1 and first.cache.endswith(".safetensors")
    assert str(features.features_root()) in first.cache

    again_source = DatasetSource(cfg, "test")
    again = source_features(again_source, 8)
    assert len(calls) == 1 and again.cache == "hit"
    assert again_source._images is None  # a hit does not even load the dataset
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.sigma, first.sigma)

    source_features(DatasetSource(cfg, "test"), 9)  # another N, another key
    source_features(DatasetSource(cfg, "test", seed=1), 9)  # a subset's seed is in the key
    assert len(calls) == 3
    source_features(DatasetSource(cfg, "test", seed=1), 10)  # the whole split: seed not in it
    source_features(DatasetSource(cfg, "test", seed=2), 10)
    assert len(calls) == 4


def test_a_run_folder_generates(trained_run):
    source = open_source(str(trained_run.path), seed=5)
    assert isinstance(source, GeneratorSource) and source.size is None
    assert "step 3" in source.spec and "seeds 5-14" in source.describe(10)
    batches = list(source.batches(5, batch_size=2))
    assert [tuple(b.shape) for b in batches] == [(2, 3, 32, 32), (2, 3, 32, 32), (1, 3, 32, 32)]
    assert batches[0].dtype == torch.uint8
    # Image i depends on seed + i only, so the features do not depend on the batch size.
    np.testing.assert_array_equal(_features(source, 5, 2), _features(source, 5, 3))
    at_3 = open_source(f"{trained_run.path}@3")
    assert "step 3" in at_3.spec
    with pytest.raises(GankitError, match="after @ give a step number"):
        open_source(f"{trained_run.path}@last")
    with pytest.raises(GankitError, match="no checkpoint at step 4"):
        open_source(f"{trained_run.path}@4")


def test_a_run_without_checkpoints(tmp_path):
    run = create_run(tmp_path / "fresh", tiny_config())
    with pytest.raises(GankitError, match="has no checkpoints yet - train it first"):
        open_source(str(run.path))


def test_compare_sources_reports_numbers_and_protocol(trained_run):
    result = compare_sources(
        "shapes:test", str(trained_run.path), n=12, kid=True, prdc=True, batch_size=5, seed=0
    )
    assert result["fid"] > 0
    assert set(result) == {
        "fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage", "protocol"
    }  # fmt: skip
    p = result["protocol"]
    assert p["network"] == "fake-net" and p["network_sha1"] == "f" * 40
    assert p["resize"].startswith("299x299 bilinear")
    assert p["a"]["n"] == p["b"]["n"] == 12 and p["a"]["cache"].endswith(".safetensors")
    assert p["reference"] == {"spec": "shapes:test", "split": "test", "n": 12}
    assert p["kid"] == {"subsets": 100, "subset_size": 12} and p["prdc"]["real"] == "a"
    swapped = compare_sources(str(trained_run.path), "shapes:test", n=12, prdc=True)
    assert swapped["protocol"]["prdc"]["real"] == "b"  # the generated side is never "real"
    assert swapped["protocol"]["b"]["cache"] == "hit"
    assert swapped["precision"] == result["precision"]
    assert swapped["fid"] == pytest.approx(result["fid"], rel=1e-9)
