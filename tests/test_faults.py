"""Fault points, and the kill harness: a run killed or out of disk at any point resumes exactly.

The harness runs ``python -m gankit train`` with ``GANKIT_FAULT=POINT:kill:N``,
checks that SIGKILL ended it, resumes it, and compares the run folder with an
uninterrupted one: the same files, the same bytes in every checkpoint tensor file
and sample grid, one metrics line per step with the same losses. Fields that
depend on timing are left out: ``elapsed_seconds`` in ``state.json``, ``img_per_s``
in ``metrics.jsonl``; ``losses.png`` is compared by presence (its points average
the blocks of steps flushed together, which a resume may cut differently).
Points only a resume reaches (cutting ``metrics.jsonl`` back to its checkpoint) are
killed in a resume of a run stopped at step 4. The writers of reports, studies and
reproductions are held to the same rule in test_durable.
"""

import ast
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import gankit
from gankit import config as config_io
from gankit import faults, training
from gankit.cli import main
from gankit.errors import GankitError
from gankit.run import open_run
from gankit.training.log import MetricsLog
from tests.support import tiny_config

SRC = Path(gankit.__file__).parents[1]
# 4 steps, a checkpoint and a sample grid every 2, one training state kept (so pruning runs)
TINY = tiny_config(
    train={"steps": 4}, log={"checkpoint_every": 2, "sample_every": 2, "keep_training_states": 1}
)
TIMING = {"elapsed_seconds", "img_per_s"}


@pytest.fixture
def fault(monkeypatch):
    """Plans one GANKIT_FAULT in this process, and forgets it afterwards."""

    def plan(text: str) -> None:
        monkeypatch.setenv(faults.ENV, text)
        faults.reset()

    yield plan
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.reset()


def test_no_fault_planned_does_nothing(fault):
    fault("")
    faults.point("checkpoint.state")
    fault("checkpoint.state:enospc")
    faults.point("checkpoint.training")  # another point


def test_a_fault_acts_every_time_or_only_the_nth_time(fault):
    fault("checkpoint.prune:eio")
    for _ in range(2):
        with pytest.raises(OSError) as e:
            faults.point("checkpoint.prune")
        assert e.value.errno == errno.EIO
    fault("checkpoint.prune:enospc:3")
    faults.point("checkpoint.prune")
    faults.point("checkpoint.prune")
    with pytest.raises(OSError) as e:
        faults.point("checkpoint.prune")
    assert e.value.errno == errno.ENOSPC and "checkpoint.prune" in str(e.value)
    faults.point("checkpoint.prune")  # the 4th time passes


@pytest.mark.parametrize(
    "text, match",
    [
        ("checkpoint.stat:kill", "unknown fault point 'checkpoint.stat' - one of config.save"),
        ("checkpoint.state:explode", "unknown action 'explode' - one of kill, enospc, eio"),
        ("checkpoint.state:kill:0", "N must be a whole number from 1, got '0'"),
        ("checkpoint.state:kill:x", "N must be a whole number from 1"),
    ],
)
def test_a_misspelt_fault_is_one_line(text, match):
    with pytest.raises(GankitError, match=match):
        faults.parse(text)


def _points_in_source() -> set[str]:
    """The names given to ``faults.point`` and to ``fault=`` anywhere in gankit."""
    names = set()
    for path in (SRC / "gankit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "point" and node.args:
                arg = node.args[0]
                names |= {arg.value} if isinstance(arg, ast.Constant) else set()
            for kw in node.keywords:
                if kw.arg == "fault" and isinstance(kw.value, ast.Constant) and kw.value.value:
                    names.add(kw.value.value)
    return names


def test_every_fault_point_is_listed_and_every_listed_one_exists():
    assert _points_in_source() == set(faults.NAMES)


def _strings_in_tests() -> set[str]:
    """Every string constant in the test suite (a point is planned as "NAME:ACTION[:N]")."""
    strings = set()
    for path in Path(__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
    return strings


def test_every_fault_point_is_exercised_by_a_test():
    strings = _strings_in_tests()
    untested = [name for name in faults.NAMES if not any(s.split(":")[0] == name for s in strings)]
    assert untested == []


@pytest.mark.parametrize(
    "tail",
    [
        b'{"step": 3, "epoch": 0.5, "d_lo',  # cut mid-line
        b'{"step": 3, "epoch": 0.5, "d_loss": 0.25}',  # whole but for its newline
        b"\x00" * 64,  # the file grew but its data never reached the disk
        b"\xff\xfe\x80\n",  # bytes that are not text
        b"[3, 0.5]\n",  # JSON, but not a record
    ],
)
def test_what_a_crash_leaves_at_the_end_of_the_metrics_is_dropped(tmp_path, tail):
    path = tmp_path / "metrics.jsonl"
    kept = b'{"step": 1, "d_loss": 1.0}\n{"step": 2, "d_loss": 0.5}\n'
    path.write_bytes(kept + tail)
    log = MetricsLog(path, ["d_loss"], block=1)
    log.load_history(upto_step=2)
    assert path.read_bytes() == kept and log.history["d_loss"] == [1.0, 0.5]
    assert os.listdir(tmp_path) == ["metrics.jsonl"]


@pytest.mark.slow  # trains two or three runs and compares them
def test_a_run_stopped_before_its_first_checkpoint_resumes_from_step_0(tmp_path, fault):
    cfg = tiny_config(train={"steps": 2}, log={"checkpoint_every": 2, "sample_every": 1})
    straight = training.train(cfg, tmp_path / "a", progress=False).run
    fault("checkpoint.generator:enospc")
    with pytest.raises(GankitError, match="no space left on device; no checkpoint yet - free"):
        training.train(cfg, tmp_path / "b", progress=False)
    fault("")
    stuck = open_run(tmp_path / "b")
    assert stuck.checkpoint_steps() == [] and stuck.sample_steps() == [1, 2]
    training.resume(stuck, progress=False)
    _assert_same_run(straight.path, stuck.path)


def test_train_resume_says_it_starts_from_step_0(tmp_path, fault, capsys):
    cfg = tiny_config(train={"steps": 1})
    config_io.save(cfg, tmp_path / "tiny.yaml")
    fault("checkpoint.generator:enospc")
    argv = ["train", "--config", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "run")]
    assert main([*argv, "--quiet"]) == 2
    fault("")
    assert main([*argv, "--quiet"]) == 2
    assert "is already a run - continue it with gankit train --resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 0
    assert "from step 0 (it has no checkpoint yet)" in capsys.readouterr().out


# --- The harness: a real process killed at each point, then resumed.


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_timing(record: dict) -> dict:
    return {k: (None if k in TIMING else v) for k, v in record.items()}


def _assert_same_run(expected: Path, got: Path) -> None:
    """The same files; every byte the same but for the timing fields named above."""
    assert _files(got) == _files(expected)
    for name in _files(expected):
        a, b = expected / name, got / name
        if name.endswith("state.json"):
            assert _without_timing(json.loads(a.read_text())) == _without_timing(
                json.loads(b.read_text())
            ), name
        elif name == "reproduce.json":  # gankit reproduce's measurements of the run
            assert _measurements(a) == _measurements(b)
        elif name == "metrics.jsonl":
            rows = _records(b)
            assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))
            assert [_without_timing(r) for r in rows] == [_without_timing(r) for r in _records(a)]
        elif name != "losses.png":
            assert a.read_bytes() == b.read_bytes(), name


def _measurements(path: Path) -> list[dict]:
    records = json.loads(path.read_text())["records"]
    return [r | {"value": _without_timing(r["value"])} for r in records]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The tiny config on disk and an uninterrupted run of it, made by the CLI."""
    root = tmp_path_factory.mktemp("harness")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANKIT_CACHE", str(root / "cache"))
        config_io.save(TINY, root / "tiny.yaml")
        assert main(["train", "--config", str(root / "tiny.yaml"), "--out", str(root / "ref")]) == 0
    return root


def _gankit(
    args: list[str], fault_text: str, command: str = "train", env: dict | None = None
) -> subprocess.CompletedProcess:
    """``gankit COMMAND ARGS --quiet`` in a new process; ``env`` adds to this one's."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",  # as the tests' own process: same sums, no thread fights
        faults.ENV: fault_text,
        **(env or {}),
    }
    quiet = ["--quiet"] if command == "train" else []  # the other commands print little
    argv = [sys.executable, "-m", "gankit", command, *args, *quiet]
    return subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=300)


# (point, N): which write to kill. Checkpoints, metrics flushes, sample grids and plots
# come at steps 2 and 4; N=1 of the generator is the first checkpoint (the run resumes
# from step 0); pruning first deletes at step 4. "checkpoint.aside" is reached only when
# a step is saved again, which a plain run never does: test_kills re-saves one.
KILLS = [
    ("checkpoint.generator", 1),
    ("checkpoint.generator", 2),
    ("checkpoint.training", 2),
    ("checkpoint.state", 2),
    ("checkpoint.before-rename", 2),
    ("checkpoint.after-rename", 2),
    ("checkpoint.prune", 1),
    ("metrics.flush", 2),  # steps 3-4 appended, not yet synced: the resume drops them
    ("samples.write", 2),
    ("plot.write", 2),
]
# Points only a resume reaches: the run is first stopped at step 4 (see below).
RESUME_POINTS = {"metrics.rewrite"}


@pytest.mark.slow
@pytest.mark.parametrize("point, nth", KILLS)
def test_killed_at_a_fault_point_resumes_bit_for_bit(setup, tmp_path, point, nth):
    run = tmp_path / "run"
    killed = _gankit(
        ["--config", str(setup / "tiny.yaml"), "--out", str(run)], f"{point}:kill:{nth}"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(setup / "ref", run)


def _main_with_fault(argv: list[str], fault_text: str) -> int:
    """``gankit ARGV`` in this process with ``GANKIT_FAULT`` set to ``fault_text``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(faults.ENV, fault_text)
        faults.reset()
        code = main(argv)
    faults.reset()
    return code


def _stopped_at_step_4(setup: Path, run: Path) -> None:
    """A run stopped by a full disk at step 4's checkpoint: metrics and grid of step 4
    written, the checkpoint of step 2 the latest, so that a resume cuts the metrics."""
    argv = ["train", "--config", str(setup / "tiny.yaml"), "--out", str(run), "--quiet"]
    assert _main_with_fault(argv, "checkpoint.generator:enospc:2") == 2
    assert len(_records(run / "metrics.jsonl")) == 4 and open_run(run).checkpoint_steps() == [2]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in _files(folder)}


@pytest.mark.slow
def test_a_resume_killed_while_cutting_the_metrics_resumes_bit_for_bit(setup, tmp_path):
    run = tmp_path / "run"
    _stopped_at_step_4(setup, run)
    metrics = (run / "metrics.jsonl").read_bytes()
    killed = _gankit(["--resume", str(run)], "metrics.rewrite:kill:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (run / "metrics.jsonl").read_bytes() == metrics  # the old file, whole
    assert (run / ".metrics.jsonl.tmp").is_file()  # the cut copy, never renamed in
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(setup / "ref", run)


@pytest.mark.slow
def test_a_metrics_line_cut_by_a_crash_is_harmless_to_resume(setup, tmp_path):
    run = tmp_path / "run"
    _stopped_at_step_4(setup, run)
    metrics = (run / "metrics.jsonl").read_bytes()
    (run / "metrics.jsonl").write_bytes(metrics[:-20])  # step 4's line cut, no newline
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(setup / "ref", run)


@pytest.mark.slow
@pytest.mark.parametrize(
    "point, nth", [*KILLS[1:], ("config.save", 1), *((p, 1) for p in sorted(RESUME_POINTS))]
)
def test_out_of_disk_at_a_fault_point_is_one_line_and_resumes(setup, tmp_path, point, nth, capsys):
    run = tmp_path / "run"
    config = ["--config", str(setup / "tiny.yaml")]
    argv = ["train", *config, "--out", str(run), "--quiet"]
    before = None
    if point in RESUME_POINTS:
        _stopped_at_step_4(setup, run)
        argv, before = ["train", "--resume", str(run), "--quiet"], _snapshot(run)
        capsys.readouterr()
    assert _main_with_fault(argv, f"{point}:enospc:{nth}") == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: ") and err.count("\n") == 1, err
    assert "no space left on device" in err and " - " in err and "free space" in err
    if point == "config.save":  # no run folder yet: the same command starts it
        assert not run.exists()
        assert main(["train", *config, "--out", str(run), "--quiet"]) == 0
    else:
        intact = open_run(run).checkpoint_steps()[-1]
        if point.startswith("checkpoint."):
            assert f"(step {intact}) is intact - free space and resume with gankit train" in err
        ckpt = f"checkpoints/step_{intact:07d}/generator.safetensors"
        assert (run / ckpt).read_bytes() == (setup / "ref" / ckpt).read_bytes()
        assert before is None or _snapshot(run) == before  # a failed resume changed nothing
        assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(setup / "ref", run)
