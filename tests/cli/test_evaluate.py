"""``gankit evaluate`` and ``gankit compare`` end to end on tiny runs, and their bad inputs.

Uses the session's tiny runs, stand-in network and one-epoch classifier of
test_evaluate.py; every run is copied before anything is written into it.
"""

from __future__ import annotations

import argparse
import shutil

import pytest

from gankit import config as config_io
from gankit.cli import compare, evaluate
from gankit.errors import GankitError
from gankit.metrics import inception
from tests.metrics.evaluate_fakes import (
    REAL_LOAD_NETWORK,
    N,
    install_fakes,
    self_contained,
    tiny_runs,
)


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    install_fakes(monkeypatch)


def gankit(*argv):
    """Parses and runs ``gankit evaluate|compare ...`` as ``gankit.cli.main`` would."""
    parser = argparse.ArgumentParser(prog="gankit")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (evaluate, compare):
        command.add_parser(sub)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Copies of both tiny runs, each evaluated with --checkpoint all into RUN/eval."""
    runs, root = tiny_runs(tmp_path_factory), tmp_path_factory.mktemp("evaluated")
    copies = {name: shutil.copytree(path, root / name) for name, path in runs.items()}
    with pytest.MonkeyPatch.context() as mp:
        install_fakes(mp)  # this runs before the function-scoped autouse fixture
        for path in copies.values():
            assert gankit("evaluate", path, "--checkpoint", "all", "--n", N, "--device", "cpu") == 0
    return copies


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))}


def test_evaluate_writes_into_the_run(evaluated, capsys):
    run = evaluated["conditional"]
    files = {p.name for p in (run / "eval").iterdir()}
    assert {"report.md", "report.html", "metrics.json", "fid_vs_step.png"} <= files
    assert self_contained((run / "eval" / "report.html").read_text())
    capsys.readouterr()
    assert gankit("evaluate", run, "--n", N, "--memorization", 0, "--out", run / "latest") == 0
    out, err = capsys.readouterr()
    assert "step 4: FID " in out and f"wrote {run / 'latest' / 'report.html'}" in out
    assert f"computing Inception features for {N} generated images" in err


def test_compare_tables_both_runs(evaluated, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert (
        gankit("compare", evaluated["conditional"], evaluated["unconditional"], "--out", out) == 0
    )
    assert "compare.html" in capsys.readouterr().out
    md = (out / "compare.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| run |"))
    assert "| step 2 | step 4 | best FID |" in header
    rows = [
        line for line in md.splitlines() if line.startswith(f"| {evaluated['conditional'].parent}")
    ]
    assert len(rows) == 2 and "%" in rows[0]  # the conditional run's cells carry accuracy
    assert rows[1].split(" | ")[2] == "-"  # the unconditional run has no step 4
    assert self_contained((out / "compare.html").read_text())
    assert (out / "compare_fid.png").is_file()


def test_compare_needs_evaluated_runs(evaluated, tmp_path):
    bare = shutil.copytree(
        evaluated["unconditional"], tmp_path / "bare", ignore=shutil.ignore_patterns("eval")
    )
    with pytest.raises(
        GankitError,
        match=r"not been evaluated .* - run `gankit evaluate .* --checkpoint all` first",
    ):
        gankit("compare", evaluated["conditional"], bare, "--out", tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def _unlabelled(run):
    cfg = config_io.load(run / "config.yaml")
    cfg.data.class_names = []
    config_io.save(cfg, run / "config.yaml")


def _lost_dataset(run):
    cfg = config_io.load(run / "config.yaml")
    cfg.data.dataset = str(run / "gone" / "images")
    config_io.save(cfg, run / "config.yaml")


@pytest.mark.parametrize(
    ("argv", "change", "message"),
    [
        (["--checkpoint", "3"], None, "no checkpoint at step 3"),
        (["--n", "5000"], None, r"shapes:test has 16 images, asked for 5,000 - use --n 16"),
        (["--n", "1"], None, "--n must be at least 2"),
        (["--classes"], _unlabelled, "has no labels.* - drop --classes"),
        ([], _lost_dataset, "no such folder or file: .*gone/images - check the path"),
        ([], "missing-network", "points at .*, which does not exist"),
        ([], "corrupt-network", r"the FID network .* is corrupt"),
    ],
)
def test_bad_input_is_one_line_and_keeps_the_old_report(
    evaluated, tmp_path, monkeypatch, argv, change, message
):
    run = shutil.copytree(evaluated["unconditional"], tmp_path / "run")
    before = snapshot(run / "eval")
    if callable(change):
        change(run)
    elif change is not None:  # the real loader, pointed at a missing or damaged file
        monkeypatch.setattr(inception, "load_network", REAL_LOAD_NETWORK)
        monkeypatch.delenv(inception.ENV_SHA1, raising=False)
        bad = tmp_path / "inception.pt"
        if change == "corrupt-network":
            bad.write_bytes(b"not a network")
        monkeypatch.setenv(inception.ENV_PATH, str(bad))
    with pytest.raises(GankitError, match=message) as e:
        gankit("evaluate", run, "--device", "cpu", "--n", N, *argv)
    assert "\n" not in str(e.value)
    assert snapshot(run / "eval") == before
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing", "does not exist - check the path"), ("not-a-run", "is not a gankit run")],
)
def test_not_a_run(tmp_path, where, message):
    path = tmp_path / where
    if where == "not-a-run":
        (path / "eval").mkdir(parents=True)
    with pytest.raises(GankitError, match=message):
        gankit("evaluate", path)
