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

One test is expected to fail, naming what it finds: the best mark of a run's last step
is lost to a kill.
``tune.trial`` and ``reproduce.write`` are killed nowhere yet: a tune or reproduce
subprocess trains real runs, too slow here; test_durable holds them to the same rule.
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
