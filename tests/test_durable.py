"""Atomic, durable writes: the order of fsyncs and renames, and what a crash leaves.

Checkpoints and configs first, then every other writer of a run, study or report
folder: a full disk at its fault point keeps the previous file, byte for byte, and
the same command or call completes once there is space again.
"""

import dataclasses
import errno
import json
import os
import shutil
from pathlib import Path

import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution

from gankit import checkpoint, durable, images
from gankit import config as config_io
from gankit.cli import main
from gankit.config import Config
from gankit.data import sources
from gankit.errors import GankitError
from gankit.reproduce import DOCUMENTS
from gankit.reproduce.measure import EvalStore
from gankit.reproduce.runner import Options, reproduce
from gankit.run import create_run, save_config, tidy
from gankit.training.log import MetricsLog
from gankit.training.plot import plot_losses
from gankit.tune import report as tune_report
from gankit.tune import study as tune_study
from gankit.tune.report import StudyInfo
from gankit.tune.space import parse_space
from tests import test_faults
from tests.metrics.evaluate_fakes import N, install_fakes, tiny_runs

fault = test_faults.fault  # the fixture that plans a GANKIT_FAULT for one test


@pytest.fixture
def run(tmp_path):
    return create_run(tmp_path / "run", Config())


@pytest.fixture
def calls(monkeypatch, tmp_path):
    """Records every fsync (by the path synced) and rename (source, target), in order."""
    seen: list[tuple] = []
    fsync, replace = os.fsync, os.replace

    def name(path) -> str:
        return str(Path(path).relative_to(tmp_path))

    def recording_fsync(fd):
        seen.append(("fsync", name(os.readlink(f"/proc/self/fd/{fd}"))))
        return fsync(fd)

    def recording_replace(src, dst):
        seen.append(("rename", name(src), name(dst)))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    monkeypatch.setattr(os, "rename", recording_replace)
    return seen


def _write(run, step, value=None):
    return checkpoint.write_checkpoint(
        run,
        step,
        generator={"w": torch.full((3,), float(step if value is None else value))},
        training={"x": torch.zeros(2)},
        state={"images_seen": step},
    )


def _generator(run, step):
    return checkpoint.read_tensors(run.checkpoint_dir(step), checkpoint.GENERATOR_FILE)["w"]


def test_a_file_is_synced_then_renamed_then_its_folder_synced(tmp_path, calls):
    durable.write_file(tmp_path / "a.json", "{}")
    assert calls == [("fsync", ".a.json.tmp"), ("rename", ".a.json.tmp", "a.json"), ("fsync", ".")]
    assert (tmp_path / "a.json").read_text() == "{}" and os.listdir(tmp_path) == ["a.json"]


def test_a_checkpoint_syncs_every_file_and_folder_before_and_after_the_rename(run, calls):
    _write(run, 3)
    ck, tmp = "run/checkpoints/step_0000003", "run/checkpoints/.step_0000003.tmp"
    assert calls == [
        ("fsync", f"{tmp}/{checkpoint.GENERATOR_FILE}"),
        ("fsync", f"{tmp}/{checkpoint.TRAINING_FILE}"),
        ("fsync", f"{tmp}/{checkpoint.STATE_FILE}"),
        ("fsync", tmp),
        ("rename", tmp, ck),
        ("fsync", "run/checkpoints"),
    ]


def test_re_saving_a_step_sets_the_old_one_aside_until_the_new_one_is_in(run, calls):
    _write(run, 3, value=1)
    calls.clear()
    _write(run, 3, value=2)
    ck = "run/checkpoints/step_0000003"
    renames = [c for c in calls if c[0] == "rename"]
    assert renames == [
        ("rename", ck, "run/checkpoints/.step_0000003.old"),
        ("rename", "run/checkpoints/.step_0000003.tmp", ck),
    ]
    assert calls[-1] == ("fsync", "run/checkpoints")
    assert torch.equal(_generator(run, 3), torch.full((3,), 2.0))
    assert sorted(os.listdir(run.checkpoints_dir)) == ["step_0000003"]


def test_there_is_always_a_copy_of_a_step_being_re_saved(run, monkeypatch):
    _write(run, 3, value=1)
    final = run.checkpoint_dir(3)
    copies = []
    replace = os.replace

    def counting_replace(src, dst):
        replace(src, dst)
        copies.append(final.is_dir() or durable.aside_path(final).is_dir())

    monkeypatch.setattr(os, "replace", counting_replace)
    _write(run, 3, value=2)
    assert copies == [True, True]


def test_a_failure_while_the_old_step_is_aside_puts_it_back(run, fault):
    _write(run, 3, value=1)
    fault("checkpoint.aside:enospc")
    with pytest.raises(GankitError, match="no space left on device; the last checkpoint \\(step 3"):
        _write(run, 3, value=2)
    assert torch.equal(_generator(run, 3), torch.full((3,), 1.0))
    assert os.listdir(run.checkpoints_dir) == ["step_0000003"]


def test_leftovers_are_not_checkpoints_and_the_next_write_cleans_them(run):
    _write(run, 3)
    for leftover in (".step_0000006.tmp", ".step_0000003.old"):
        (run.checkpoints_dir / leftover).mkdir()
        (run.checkpoints_dir / leftover / checkpoint.STATE_FILE).write_text("{}")
    assert run.checkpoint_steps() == [3]
    _write(run, 6)
    assert sorted(os.listdir(run.checkpoints_dir)) == ["step_0000003", "step_0000006"]


def test_tidy_moves_an_aside_step_back_when_the_crash_came_between_the_renames(run):
    _write(run, 3)
    os.replace(run.checkpoint_dir(3), durable.aside_path(run.checkpoint_dir(3)))
    (run.path / ".metrics.jsonl.tmp").write_text("")
    (run.samples_dir / ".losses.png.tmp.png").write_text("")
    assert run.checkpoint_steps() == []
    tidy(run)
    assert run.checkpoint_steps() == [3] and torch.equal(_generator(run, 3), torch.full((3,), 3.0))
    assert sorted(os.listdir(run.path)) == ["checkpoints", "config.yaml", "samples"]
    assert os.listdir(run.samples_dir) == []


def test_a_full_disk_while_saving_the_config_keeps_the_old_one(run, fault):
    before = run.config_path.read_bytes()
    fault("config.save:enospc")
    with pytest.raises(GankitError, match="no space left on device - free space and resume with"):
        save_config(run, Config(preset="other"))
    assert run.config_path.read_bytes() == before
    assert sorted(os.listdir(run.path)) == ["checkpoints", "config.yaml", "samples"]


def test_config_save_is_durable(tmp_path, calls):
    config_io.save(Config(), tmp_path / "config.yaml")
    assert [c[0] for c in calls] == ["fsync", "rename", "fsync"]
    assert config_io.load(tmp_path / "config.yaml") == Config()


def test_a_run_folder_appears_only_with_its_config(tmp_path, fault):
    fault("config.save:eio")
    with pytest.raises(GankitError, match="cannot create run folder .*input/output error"):
        create_run(tmp_path / "run", Config())
    assert os.listdir(tmp_path) == []  # neither a half run nor a leftover
    fault("")
    (tmp_path / "run").mkdir()  # an empty folder made for the run is fine
    run = create_run(tmp_path / "run", Config())
    assert sorted(os.listdir(run.path)) == ["checkpoints", "config.yaml", "samples"]
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_an_existing_folder_is_resumed_if_a_run_else_refused(run, tmp_path):
    with pytest.raises(GankitError, match="is already a run - continue it with gankit train"):
        create_run(run.path, Config())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(GankitError, match="not empty - pick another --out$"):
        create_run(tmp_path / "other", Config())


def test_a_failing_disk_while_marking_the_best_keeps_the_old_record(run, fault):
    _write(run, 3)
    checkpoint.mark_best(run, 3, {"fid": 2.0})
    fault("checkpoint.best:eio")
    with pytest.raises(GankitError, match="could not mark step 3 as the best: input/output error"):
        checkpoint.mark_best(run, 3, {"fid": 1.0})
    assert json.loads(run.best_path.read_text()) == {"step": 3, "fid": 2.0}
    assert sorted(os.listdir(run.checkpoints_dir)) == ["best.json", "step_0000003"]


def test_a_failing_disk_while_pruning_is_one_line(run, fault):
    for step in (1, 2):
        _write(run, step)
    fault("checkpoint.prune:eio")
    with pytest.raises(GankitError, match="could not prune .*step 2\\) is intact - free space"):
        checkpoint.prune_training_states(run, 1)
    assert run.checkpoint_steps() == [1, 2]


def test_describe_names_a_full_disk_plainly():
    assert durable.describe(OSError(errno.ENOSPC, "No space left")) == "no space left on device"
    assert durable.describe(OSError(errno.EIO, "Input/output error")) == "input/output error"


def test_a_run_without_checkpoints_says_how_to_start_it(run):
    with pytest.raises(GankitError, match="no checkpoints yet - train it first .*--resume"):
        run.resolve_checkpoint("latest")


# --- Every other writer of a run, study or report folder: synced, renamed, the old kept.


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))}


def test_a_png_is_synced_then_renamed_then_its_folder_synced(tmp_path, calls):
    images.save_png(torch.zeros(3, 4, 4, dtype=torch.uint8), tmp_path / "a.png")
    assert calls == [("fsync", ".a.png.tmp"), ("rename", ".a.png.tmp", "a.png"), ("fsync", ".")]


def test_the_metrics_are_synced_at_every_flush(tmp_path, calls):
    log = MetricsLog(tmp_path / "metrics.jsonl", ["d_loss"], block=1)
    for step in (1, 2):
        log.append(step, 0.1 * step, torch.tensor([0.5]))
        log.flush()
    assert calls == [("fsync", "metrics.jsonl")] * 2
    assert [json.loads(line)["step"] for line in log.path.read_text().splitlines()] == [1, 2]


def test_a_full_disk_while_drawing_the_losses_keeps_the_old_figure(tmp_path, fault):
    path = tmp_path / "losses.png"
    plot_losses({"step": [1, 2], "epoch": [0.1, 0.2], "d_loss": [1.0, 0.5]}, path, "JS")
    before = path.read_bytes()
    fault("plot.write:enospc")
    longer = {"step": [1, 2, 3], "epoch": [0.1, 0.2, 0.3], "d_loss": [1.0, 0.5, 0.2]}
    with pytest.raises(GankitError, match="losses.png: no space left on device - free space and"):
        plot_losses(longer, path, "JS")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["losses.png"]


@pytest.mark.slow  # two tiny runs trained once per session; one evaluated three times
def test_a_full_disk_while_writing_an_evaluation_keeps_the_old_report(
    tmp_path_factory, tmp_path, monkeypatch, fault, capsys
):
    install_fakes(monkeypatch)
    run = shutil.copytree(tiny_runs(tmp_path_factory)["unconditional"], tmp_path / "run")
    argv = ["evaluate", str(run), "--n", str(N), "--device", "cpu", "--memorization", "0"]
    assert main(argv) == 0
    before = _tree(run / "eval")
    fault("report.write:enospc")
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("gankit: error: ") == 1 and err.endswith(
        "eval: no space left on device - free space and run the same command again\n"
    )
    assert _tree(run / "eval") == before
    assert not [p for p in run.iterdir() if p.name.startswith(".")]
    fault("")
    assert main(argv) == 0 and {"metrics.json", "report.md"} <= set(os.listdir(run / "eval"))


def _study(values: list[float]) -> optuna.Study:
    study = optuna.create_study()  # in memory: only the files written here are at stake
    for value in values:
        trial = optuna.trial.create_trial(params={"lr_g": 1e-3}, distributions=LR_G, value=value)
        study.add_trial(trial)
    return study


LR_G = {"lr_g": FloatDistribution(1e-4, 1e-2, log=True)}
SPACE = parse_space({"lr_g": {"dist": "loguniform", "low": 1e-4, "high": 1e-2}})


def test_a_full_disk_while_writing_a_study_report_keeps_the_old_one(tmp_path, fault):
    info = StudyInfo("s", str(tmp_path), "fid", "FID", "tiny", SPACE, "a file", "2 steps", "db")
    tune_report.write_report(_study([5.0]), tmp_path, info)
    before = _tree(tmp_path)
    fault("tune.trial:enospc")
    with pytest.raises(GankitError, match="study.md: no space left on device - free space and run"):
        tune_report.write_report(_study([5.0, 4.0]), tmp_path, info)
    # The pages are the old ones (the history picture beside them may be the new one).
    assert {name: _tree(tmp_path)[name] for name in ("study.md", "study.html")} == {
        name: before[name] for name in ("study.md", "study.html")
    }
    fault("")
    tune_report.write_report(_study([5.0, 4.0]), tmp_path, info)
    assert "| 1 | complete | 4 |" in (tmp_path / "study.md").read_text()


def test_a_study_folder_cut_short_while_writing_its_identity_is_still_new(tmp_path, fault):
    folder = tmp_path / "s"
    create = (folder, None, "s", "fid", None, Config(), SPACE)
    fault("tune.trial:enospc:1")
    with pytest.raises(GankitError, match="study folder .*: no space left on device - free space"):
        tune_study._create_folder(*create)
    assert os.listdir(folder) == []
    (folder / ".study.json.tmp").write_text('{"format"')  # what a kill there leaves
    assert tune_study._read_study_file(folder) is None  # so the same command starts it
    fault("")
    tune_study._create_folder(*create)
    assert tune_study._read_study_file(folder)["name"] == "s"
    assert sorted(os.listdir(folder)) == ["base.yaml", "space.yaml", "study.json"]


def _offline(url, dest, timeout=0):
    raise OSError("no network in tests")


def test_a_full_disk_while_writing_a_reproduction_keeps_what_is_there(tmp_path, monkeypatch, fault):
    monkeypatch.setattr(sources, "fetch", _offline)  # no data: every experiment is skipped
    doc = DOCUMENTS["003-four-gans"]
    mnist = dataclasses.replace(
        doc, experiments=tuple(e for e in doc.experiments if e.data == "mnist")
    )
    out = tmp_path / "out"
    opts = Options(scale=0.001, out=out, device="cpu", progress=False)
    fault("reproduce.write:enospc:1")  # the manifest of a new folder
    with pytest.raises(GankitError, match="reproduction.json: no space left on device - free"):
        reproduce(mnist, opts, say=lambda line: None)
    assert os.listdir(out) == []
    (out / ".reproduction.json.tmp").write_text("")  # what a kill there leaves
    fault("")
    reproduce(mnist, opts, say=lambda line: None)
    before = _tree(out)
    fault("reproduce.write:enospc")
    with pytest.raises(GankitError, match=r"REPORT.md: no space left on device - free .*kept\)$"):
        reproduce(mnist, opts, say=lambda line: None)
    assert _tree(out) == before
    fault("")
    reproduce(mnist, opts, say=lambda line: None)
    assert sorted(os.listdir(out)) == ["REPORT.md", "report.html", "reproduction.json"]


def test_a_full_disk_while_recording_a_measurement_keeps_the_old_record(run, fault):
    EvalStore(run).get_or_compute("fid", 1, {"n": 8}, lambda: {"fid": 3.0})
    before = (run.path / "reproduce.json").read_bytes()
    fault("reproduce.write:enospc")
    with pytest.raises(GankitError, match="reproduce.json: no space left on device"):
        EvalStore(run).get_or_compute("fid", 2, {"n": 8}, lambda: {"fid": 2.0})
    assert (run.path / "reproduce.json").read_bytes() == before
    fault("")
    assert EvalStore(run).get_or_compute("fid", 2, {"n": 8}, lambda: {"fid": 2.0}) == (
        {"fid": 2.0},
        False,
    )
    assert EvalStore(run).get("fid", 1, {"n": 8}) == {"fid": 3.0}


def test_a_report_set_aside_by_a_killed_evaluation_comes_back(tmp_path):
    from gankit.metrics.report import staged_folder

    out = tmp_path / "eval"
    aside, half = durable.aside_path(out), durable.temp_path(out)
    aside.mkdir()
    (aside / "metrics.json").write_text("complete")
    half.mkdir()
    (half / "metrics.json").write_text("half")
    with pytest.raises(RuntimeError), staged_folder(out):
        raise RuntimeError("the evaluation failed before writing anything")
    assert (out / "metrics.json").read_text() == "complete"
    assert not aside.exists() and not half.exists()
