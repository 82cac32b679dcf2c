"""Evaluating runs: what applies, numbers per checkpoint, the report files, atomic replacement.

Everything runs tiny: two runs trained for a few steps on 96 generated shapes
(made once per test session, see evaluate_fakes.py), a stand-in
feature network, and a dataset classifier trained for one epoch at width 4.
"""

from __future__ import annotations

import json
import shutil

import pytest

from gankit import config as config_io
from gankit.errors import GankitError
from gankit.metrics import compute_metrics, report
from gankit.metrics.evaluate import EvalOptions, evaluate_run
from gankit.metrics.features import source_features
from gankit.metrics.sources import DatasetSource
from tests.metrics.evaluate_fakes import (
    N,
    install_fakes,
    self_contained,
    tiny_runs,
)

PICTURES_CONDITIONAL = {
    "samples.png",
    "class_histogram.png",
    "confusion.png",
    "embedding.png",
    "interpolation.png",
    "neighbours_inception.png",
    "neighbours_pixels.png",
}


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    install_fakes(monkeypatch)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


def evaluate(run, out, **options):
    lines: list[str] = []
    result, folder = evaluate_run(
        run, EvalOptions(**{"n": N, "memorization": 4, **options}), out=out, say=lines.append
    )
    return result, folder, lines


def test_conditional_run_numbers_protocol_and_files(runs, tmp_path):
    result, out, lines = evaluate(runs["conditional"], tmp_path / "eval", kid=True, prdc=True)
    files = {p.name for p in out.iterdir()}
    assert files == PICTURES_CONDITIONAL | {"report.md", "report.html", "metrics.json"}
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(report.json_safe(result)))
    p = saved["protocol"]
    assert p["network"] == "fake-net" and p["network_sha1"] == "f" * 40
    assert p["resize"].startswith("299x299 bilinear") and p["n_generated"] == N and p["seed"] == 0
    assert p["reference"]["dataset"] == "shapes" and p["reference"]["split"] == "test"
    assert p["reference"]["n"] == N and p["gankit_version"]
    assert p["classifier"]["test_split"] == "test split"
    (row,) = saved["checkpoints"]
    assert row["step"] == 4 and row["images_seen"] == 64 and row["fid"] > 0
    for key in ("kid_mean", "precision", "coverage", "classifier_fid", "class_entropy"):
        assert key in row
    assert 0 <= row["accuracy"] <= 1
    assert list(row["per_class_accuracy"]) == ["circle", "square", "triangle"]
    assert sum(map(sum, row["confusion"])) == N and sum(row["class_counts"]) == N
    assert 0 <= row["memorization_inception"] <= 1 and 0 <= row["memorization_pixels"] <= 1
    assert saved["not_applicable"] == {}
    assert "train-on-synthetic accuracy" in saved["not_computed"]
    md = (out / "report.md").read_text()
    assert "network: fake-net" in md and "network sha1: " + "f" * 40 in md
    assert f"| {row['fid']:.2f} |" in md and "![samples of step 4" in md
    page = (out / "report.html").read_text()
    assert self_contained(page) and page.count("<img ") == len(PICTURES_CONDITIONAL)
    assert f"computing Inception features for {N} generated images" in "\n".join(lines)


def checkpoint_table(md: str) -> list[str]:
    """The lines of report.md's per-checkpoint table (header first)."""
    block = next(b for b in md.split("\n\n") if b.startswith("| step |"))
    return [line for line in block.splitlines() if not line.startswith("|:")]


def test_all_checkpoints_one_row_each_and_the_best_marked(runs, tmp_path):
    result, out, _ = evaluate(
        runs["conditional"], tmp_path / "eval", checkpoint="all", classes=False
    )
    rows = result["checkpoints"]
    assert [row["step"] for row in rows] == [2, 4]
    best = min(rows, key=lambda r: r["fid"])
    assert result["best"] == {"step": best["step"], "fid": best["fid"]}
    assert result["pictures_step"] == best["step"] and (out / "fid_vs_step.png").is_file()
    table = checkpoint_table((out / "report.md").read_text())
    assert len(table) == 1 + len(rows) and "images seen" in table[0]
    marked = [line for line in table if "best (lowest FID)" in line]
    assert marked == [next(line for line in table if line.startswith(f"| {best['step']} |"))]
    assert (
        "class histogram: not computed - turned off (--no-classes)"
        in (out / "report.md").read_text()
    )


def test_unconditional_run_says_what_does_not_apply(runs, tmp_path):
    result, out, _ = evaluate(runs["unconditional"], tmp_path / "eval", classes=True)
    (row,) = result["checkpoints"]
    assert "accuracy" not in row and "class_entropy" in row
    assert not (out / "confusion.png").exists() and (out / "class_histogram.png").exists()
    md = (out / "report.md").read_text()
    assert "class accuracy: not applicable - the run is unconditional" in md
    assert "confusion matrix: not applicable - the run is unconditional" in md
    assert "KID: not computed - add --kid" in md


def test_unlabelled_run_has_no_class_checks(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["unconditional"], run)
    cfg = config_io.load(run / "config.yaml")
    cfg.data.class_names = []  # as a run on an image folder without class subfolders
    config_io.save(cfg, run / "config.yaml")
    with pytest.raises(GankitError, match="has no labels.* - drop --classes"):
        evaluate(run, None, classes=True)
    assert not (run / "eval").exists()
    result, out, _ = evaluate(run, None)
    assert out == run / "eval" and "class_counts" not in result["checkpoints"][0]
    md = (out / "report.md").read_text()
    assert "classifier FID: not applicable - the run's dataset has no labels" in md
    assert {"embedding.png", "class_histogram.png"}.isdisjoint(p.name for p in out.iterdir())


def test_floor_and_train_on_synthetic(runs, tmp_path):
    result, out, _ = evaluate(
        runs["conditional"], tmp_path / "eval", floor=True, tstr=True, memorization=0
    )
    # The floor is the FID of N train images against the same N test images, as if
    # computed by hand; two different image sets are told apart, so it is above 0.
    data = config_io.load(runs["conditional"] / "config.yaml").data
    real = source_features(DatasetSource(data, "test", 0), N)
    train = source_features(DatasetSource(data, "train", 0), N)
    by_hand = compute_metrics(real, train, ["fid"])["fid"]
    assert result["floor"]["fid"] == by_hand > 0 and "shapes:train" in result["floor"]["of"]
    assert result["tstr"]["step"] == 4 and 0 <= result["tstr"]["synthetic_only"] <= 1
    md = (out / "report.md").read_text()
    assert "real-vs-real floor (best attainable): fid " in md
    assert "Train on synthetic, test on real" in md and "memorisation: not computed" in md
    with pytest.raises(GankitError, match="--tstr needs a conditional run"):
        evaluate(runs["unconditional"], tmp_path / "u", tstr=True)


def test_a_failure_while_writing_keeps_the_old_report(runs, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(runs["unconditional"], run)
    evaluate(run, None, classes=False, memorization=0)
    before = {p.name: p.read_bytes() for p in (run / "eval").iterdir()}

    def broken(*args, **kwargs):
        raise GankitError("disk trouble - free some space")

    monkeypatch.setattr(report, "write_eval_report", broken)
    with pytest.raises(GankitError, match="disk trouble"):
        evaluate(run, None, seed=3)
    assert {p.name: p.read_bytes() for p in (run / "eval").iterdir()} == before
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("mine")
    with pytest.raises(GankitError, match="holds something other than a gankit report"):
        evaluate(run, tmp_path / "other")
