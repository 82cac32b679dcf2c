"""``gankit fid`` end to end on tiny inputs (with a stand-in network), and its bad inputs."""

import argparse
import json

import numpy as np
import pytest
import torch

from gankit.cli import fid
from gankit.errors import GankitError
from gankit.run import create_run
from tests.support import tiny_config


@pytest.fixture(autouse=True)
def fake_network(fake_inception):
    """Every test here runs on the stand-in network (see conftest)."""


def gankit(*argv):
    """Parses and runs ``gankit fid ...`` as ``gankit.cli.main`` would, errors propagating."""
    parser = argparse.ArgumentParser(prog="gankit")
    fid.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fid", *map(str, argv)])
    return args.func(args)


@pytest.fixture
def npz(tmp_path):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g)
    np.savez(tmp_path / "fake.npz", images=images.numpy())
    return tmp_path / "fake.npz"


def test_fid_prints_numbers_and_protocol(npz, capsys):
    assert gankit("shapes:test", npz, "--n", 10, "--kid", "--prdc", "--device", "cpu") == 0
    out = capsys.readouterr().out
    for word in ("FID ", "KID ", "precision", "recall", "density", "coverage"):
        assert word in out
    assert "protocol: fake-net (sha1 ffffffffffff), 299x299 bilinear" in out
    assert "A: shapes:test: 10 of 1,666 images (seed-0 subset), 64x64 RGB" in out
    assert "B: " in out and "10 of 12 images" in out and "PRDC: real side A, k=3" in out


def test_fid_json(npz, capsys):
    assert gankit(npz, npz, "--n", 12, "--json", "--device", "cpu") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fid"] == pytest.approx(0.0, abs=1e-9)  # a source against itself
    assert result["protocol"]["a"]["n"] == 12 and "kid_mean" not in result


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing/folder", "shapes:test"], "no such file, folder, run or dataset: missing/folder"),
        (["fashion-mnst:test", "shapes:test"], "unknown dataset 'fashion-mnst'"),
        (["shapes:test", "shapes:train", "--n", "5000"], "shapes:test has 1,666 images, asked"),
        (["shapes:test", "shapes:train", "--n", "1"], "--n must be at least 2"),
        (["shapes:test", "shapes:train", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["shapes:test", "shapes:train", "--n", "5", "--prdc"], "--prdc needs more than 5 images"),
        (["shapes:test", "shapes:train", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_inputs_are_one_line_errors(argv, message):
    with pytest.raises(GankitError, match=message) as e:
        gankit(*argv)
    assert "\n" not in str(e.value)


def test_a_run_without_checkpoints(tmp_path):
    run = create_run(tmp_path / "fresh", tiny_config())
    with pytest.raises(GankitError, match="has no checkpoints yet"):
        gankit("shapes:test", run.path, "--n", 4)
