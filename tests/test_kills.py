"""A real process killed at the fault points test_faults' harness does not reach.

Each test runs ``python -m gankit ...`` with ``GANKIT_FAULT=POINT:kill:N``, checks that
SIGKILL ended it, runs what the user would run next, and compares the result with an
uninterrupted one (the harness and its comparison are test_faults'):

- ``config.save``: a new run killed while its config is written, and a resume killed
  while it writes the config again;
- ``checkpoint.aside``: a plain run never saves a step twice, so the step is re-saved
  over a folder that is not a complete checkpoint (its ``state.json`` lost);
- ``checkpoint.best``: ``--eval-every`` with the dataset's classifier, trained tiny once
  and cached where the subprocess finds it;
- ``report.write``: ``gankit evaluate`` with a stand-in FID network saved as TorchScript,
  which the subprocess loads through ``$GANKIT_INCEPTION``.

- ``tune.trial``: ``gankit tune`` of two tiny trials, killed while it writes the new
  study's ``study.json``, and while it writes the report once the trials are done.

- ``reproduce.write``: ``gankit reproduce 002`` at a tiny scale on the real
  Fashion-MNIST files (its art half skipped) with the stand-in FID network, killed while
  it records a measurement and while it writes its report.
"""

import copy
import hashlib
import json
import shutil
import signal
from pathlib import Path

import pytest
import torch

from gankit import config as config_io
from gankit.cli import main
from gankit.metrics import inception
from gankit.metrics.monitor import training_monitor
from gankit.run import open_run
from gankit.training.setup import prepare
from tests import test_faults
from tests.metrics.evaluate_fakes import install_fakes
from tests.support import realdata
from tests.test_faults import TINY, _assert_same_run, _gankit, _snapshot, _stopped_at_step_4

setup = test_faults.setup  # the tiny config on disk and an uninterrupted run of it

pytestmark = pytest.mark.slow  # every test trains or evaluates in a subprocess


def _killed(result) -> None:
    assert result.returncode == -signal.SIGKILL, result.stderr


def test_a_new_run_killed_while_saving_its_config_is_started_again(setup, tmp_path):
    run = tmp_path / "run"
    argv = ["--config", str(setup / "tiny.yaml"), "--out", str(run)]
    _killed(_gankit(argv, "config.save:kill:1"))
    assert not run.exists()  # only the hidden folder being put together, never a half run
    assert main(["train", *argv, "--quiet"]) == 0  # what the user runs again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the leftover is gone
    _assert_same_run(setup / "ref", run)


def test_a_resume_killed_while_saving_its_config_resumes_bit_for_bit(setup, tmp_path):
    run = tmp_path / "run"
    _stopped_at_step_4(setup, run)
    config = (run / "config.yaml").read_bytes()
    _killed(_gankit(["--resume", str(run)], "config.save:kill:1"))
    assert (run / "config.yaml").read_bytes() == config  # the old file, whole
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(setup / "ref", run)


def test_killed_while_re_saving_a_step_resumes_bit_for_bit(setup, tmp_path):
    run = tmp_path / "run"
    _stopped_at_step_4(setup, run)
    # Step 4's folder without its state.json is not a checkpoint: the resume trains from
    # step 2 and saves step 4 over it, setting the old folder aside first.
    broken = run / "checkpoints" / "step_0000004"
    shutil.copytree(setup / "ref" / "checkpoints" / "step_0000004", broken)
    (broken / "state.json").unlink()
    _killed(_gankit(["--resume", str(run)], "checkpoint.aside:kill:1"))
    leftovers = {".step_0000004.old", ".step_0000004.tmp"}
    assert leftovers <= {p.name for p in (run / "checkpoints").iterdir()}
    assert not broken.exists() and open_run(run).checkpoint_steps() == [2]
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(setup / "ref", run)


@pytest.fixture(scope="module")
def evaluating(tmp_path_factory):
    """The tiny config with ``eval_every`` 2, its classifier cached, and an uninterrupted run.

    The classifier is trained tiny here (one epoch at width 4) into the cache every test's
    processes share, so the subprocesses load it rather than train a full one.
    """
    root = tmp_path_factory.mktemp("evaluating")
    cfg = copy.deepcopy(TINY)
    cfg.log.eval_every = 2
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache" / "gankit"))
        install_fakes(mp)
        training_monitor(prepare(cfg)[0], torch.device("cpu"), say=lambda line: None)
        config_io.save(cfg, root / "tiny.yaml")
        assert main(["train", "--config", str(root / "tiny.yaml"), "--out", str(root / "ref")]) == 0
    return root


# Step 2 is marked best, then step 4 (a better score). Killed before step 4's mark
# (nth=2), the run is already finished when resumed: the resume must still write the
# mark, from the scores step 4's checkpoint carries, and know step 4's score as the best.
@pytest.mark.parametrize("nth", [1, 2])
def test_killed_while_marking_the_best_resumes_bit_for_bit(evaluating, tmp_path, nth):
    run = tmp_path / "run"
    argv = ["--config", str(evaluating / "tiny.yaml"), "--out", str(run)]
    _killed(_gankit(argv, f"checkpoint.best:kill:{nth}"))
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same_run(evaluating / "ref", run)


class PooledPixels(torch.nn.Module):
    """A stand-in FID network a subprocess can load: 2048 average-pooled pixel values."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 27).flatten(1)[:, :2048]


@pytest.fixture(scope="module")
def fake_network(tmp_path_factory) -> dict[str, str]:
    """The environment that points ``gankit evaluate`` at the stand-in network."""
    path = tmp_path_factory.mktemp("network") / "pooled.pt"
    torch.jit.script(PooledPixels()).save(str(path))
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    return {inception.ENV_PATH: str(path), inception.ENV_SHA1: sha1}


def _report(run: Path) -> dict:
    """metrics.json without what differs between two evaluations of equal runs: where and
    when, and whether the reference features came from the cache (the first one filled it)."""
    report = json.loads((run / "eval" / "metrics.json").read_text())
    del report["run"], report["created"], report["protocol"]["reference"]["cache"]
    return report


EVALUATE = ["--n", "16", "--device", "cpu", "--memorization", "0", "--no-classes"]


def test_an_evaluation_killed_while_writing_its_report_completes_when_run_again(
    setup, tmp_path, fake_network
):
    straight, run = (shutil.copytree(setup / "ref", tmp_path / name) for name in ("a", "b"))
    assert _gankit([str(straight), *EVALUATE], "", "evaluate", fake_network).returncode == 0
    _killed(_gankit([str(run), *EVALUATE], "report.write:kill:1", "evaluate", fake_network))
    assert not (run / "eval").exists()  # only the staged folder, never half a report
    assert _gankit([str(run), *EVALUATE], "", "evaluate", fake_network).returncode == 0
    assert _report(run) == _report(straight)
    # Killed again over a complete report: the old one stays, byte for byte.
    before = _snapshot(run / "eval")
    _killed(_gankit([str(run), *EVALUATE], "report.write:kill:2", "evaluate", fake_network))
    assert _snapshot(run / "eval") == before


# A killed evaluation leaves its staged folder; the next one, another process, removes it.
def test_an_evaluation_run_again_after_a_kill_leaves_no_temporary_files(
    setup, tmp_path, fake_network
):
    run = shutil.copytree(setup / "ref", tmp_path / "run")
    _killed(_gankit([str(run), *EVALUATE], "report.write:kill:1", "evaluate", fake_network))
    assert _gankit([str(run), *EVALUATE], "", "evaluate", fake_network).returncode == 0
    assert [str(p) for p in run.rglob(".*")] == []


# The trials of a tune, killed while it writes its bookkeeping: N=1 is the new study's
# study.json (before any trial), N=3 the report (study.md) after both trials finished.
TUNE_SPACE = "lr_g: {dist: loguniform, low: 1.0e-4, high: 1.0e-2}\n"


@pytest.fixture(scope="module")
def tuned(evaluating):
    """A study of two tiny trials, run without a kill."""
    (evaluating / "space.yaml").write_text(TUNE_SPACE)
    assert main(["tune", *_tune_args(evaluating, evaluating / "study")]) == 0
    return evaluating / "study"


def _tune_args(root: Path, study: Path) -> list[str]:
    tiny, space = str(root / "tiny.yaml"), str(root / "space.yaml")
    return ["--config", tiny, "--space", space, "--trials", "2", "--study", str(study)]


@pytest.mark.parametrize("nth", [1, 3])
def test_a_study_killed_while_writing_its_files_finishes_when_run_again(
    evaluating, tuned, tmp_path, nth
):
    study = tmp_path / "study"
    argv = _tune_args(evaluating, study)
    _killed(_gankit(argv, f"tune.trial:kill:{nth}", "tune"))
    assert not (study / "study.md").exists()
    assert _gankit(argv, "", "tune").returncode == 0  # the same command again
    assert test_faults._files(study) == test_faults._files(tuned)  # no leftover, none lost
    assert _identity(study) == _identity(tuned)
    for name in ("space.yaml", "best.yaml"):
        assert (study / name).read_bytes() == (tuned / name).read_bytes(), name
    for trial in sorted(p.name for p in (tuned / "trials").iterdir()):
        _assert_same_run(tuned / "trials" / trial, study / "trials" / trial)


def _identity(study: Path) -> dict:
    identity = json.loads((study / "study.json").read_text())
    del identity["created"], identity["name"]  # when, and a name made from the folder's path
    return identity


# gankit reproduce's writes, in order: the folder's reproduction.json (1), each
# measurement's record in the run's reproduce.json (2: epoch 42's FID, 3: epoch 50's),
# then REPORT.md (4) and report.html.
REPRODUCE = ["reproduce", "002", "--scale", "0.0001", "--fid-n", "8", "--device", "cpu"]


def _reproduce(out: Path, fault_text: str, network: dict) -> int:
    return _gankit([*REPRODUCE[1:], "--out", str(out)], fault_text, "reproduce", network)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, fake_network) -> Path:
    """Seed 002 reproduced at the tiny scale without a kill."""
    out = tmp_path_factory.mktemp("reproduced") / "002"
    assert _reproduce(out, "", fake_network).returncode == 0
    return out


@realdata
@pytest.mark.parametrize("nth", [2, 4])
def test_a_reproduction_killed_while_writing_completes_when_run_again(
    reproduced, fake_network, tmp_path, nth
):
    out = tmp_path / "002"
    _killed(_reproduce(out, f"reproduce.write:kill:{nth}", fake_network))
    assert not (out / "REPORT.md").exists()
    result = _reproduce(out, "", fake_network)  # the same command again
    assert result.returncode == 0, result.stderr
    assert test_faults._files(out) == test_faults._files(reproduced)  # none lost, no leftover
    _assert_same_run(reproduced / "fashion-dcgan", out / "fashion-dcgan")
    assert _measured(out) == _measured(reproduced)


def _measured(out: Path) -> list:
    """The FIDs the report tables hold (the rows of the document's epochs)."""
    lines = (out / "REPORT.md").read_text().splitlines()
    return [line for line in lines if line.startswith("| epoch")]
