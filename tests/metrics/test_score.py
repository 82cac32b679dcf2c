"""Scoring a generator against a dataset split: one protocol, the same figure for every caller.

The figure each command reported before it shared ``metrics.score`` is written out
here as ``expected_fid`` (reference features of the split, G's images from seed
SEED + i, FID of the two); evaluate, tune and reproduce must each give exactly it.
Uses the session's tiny runs and stand-in network of test_evaluate.py.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gankit.checkpoint import load_generator
from gankit.config import DataConfig
from gankit.errors import GankitError
from gankit.metrics import compute_metrics, inception
from gankit.metrics.evaluate import EvalOptions, evaluate_run
from gankit.metrics.features import source_features
from gankit.metrics.score import reference_scorer, reference_source, reference_split
from gankit.metrics.sources import DatasetSource, GeneratorSource
from gankit.reproduce import measure
from gankit.run import open_run
from gankit.tune import objective as objectives
from tests.metrics.evaluate_fakes import (
    FAKE,
    install_fakes,
    tiny_runs,
)

N = 12  # of the 16 test images: a seeded subset, so the subset seed matters too


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    install_fakes(monkeypatch)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return open_run(tiny_runs(tmp_path_factory)["conditional"])


def expected_fid(data, split: str, n_real: int, G, n_fake: int, seed: int) -> float:
    """FID as the commands computed it, step by step, each on its own."""
    net = inception.load_network("cpu")
    real = source_features(DatasetSource(data, split, seed), n_real, net=net)
    fake = source_features(GeneratorSource(G, "G", seed), n_fake, net=net)
    return compute_metrics(real, fake, ["fid"])["fid"]


def test_the_service_gives_exactly_the_figure_and_kid_on_the_same_features(run):
    G, cfg, _ = load_generator(run, 4)
    scorer = reference_scorer(reference_source(cfg.data, seed=3), N)
    assert scorer.reference.split == "test" and scorer.seed == 3 and scorer.real.n == N
    assert scorer.score(G, N) == {"fid": expected_fid(cfg.data, "test", N, G, N, 3)}
    fake = scorer.generated(G, N)
    both = compute_metrics(scorer.real, fake, ["fid", "kid"], seed=3)
    assert scorer.compare(fake, ["fid", "kid"]) == both


def test_image_folders_are_judged_against_train_everything_else_against_test(tmp_path):
    assert reference_split(DataConfig(dataset=str(tmp_path))) == "train"  # has no test split
    assert reference_split(DataConfig(dataset="shapes")) == "test"
    assert reference_source(DataConfig(dataset=str(tmp_path))).split == "train"
    assert reference_source(DataConfig(dataset="shapes"), "train").split == "train"


def test_too_few_reference_images_fail_before_the_network_loads(run, monkeypatch):
    def no_network(device="cpu"):
        raise AssertionError("loaded the network first")

    monkeypatch.setattr(inception, "load_network", no_network)
    with pytest.raises(GankitError, match="has 16 images, asked for 17"):
        reference_scorer(reference_source(run.config().data), 17)


@pytest.mark.parametrize("seed", [0, 3])
def test_evaluate_reports_exactly_the_figure(run, tmp_path, seed):
    opts = EvalOptions(n=N, seed=seed, classes=False, memorization=0)
    result, _ = evaluate_run(run.path, opts, out=tmp_path / "eval")
    G, cfg, _ = load_generator(run, 4)
    assert result["checkpoints"][0]["fid"] == expected_fid(cfg.data, "test", N, G, N, seed)


def test_tune_judges_by_exactly_the_figure(run):
    cfg = run.config()
    cfg = dataclasses.replace(cfg, log=dataclasses.replace(cfg.log, eval_samples=N))
    G, _, _ = load_generator(run, 2)
    judge = objectives.build(objectives.OBJECTIVES.get("fid"), cfg, torch.device("cpu"))
    assert judge(G, 2) == {"fid": expected_fid(cfg.data, "test", N, G, N, 0)}


def test_reproduce_measures_exactly_the_figure(run):
    data = run.config().data
    # More generated images than the split has real ones: the real side takes them all.
    proto = measure.FidProtocol(n=20, split="test", n_reference=16, network_sha1=FAKE.sha1)
    G, _, _ = load_generator(run, 4)
    value = measure.fid_at(run, 4, data, proto, "cpu", say=lambda line: None)
    assert value["fid"] == expected_fid(data, "test", 16, G, 20, 0)
