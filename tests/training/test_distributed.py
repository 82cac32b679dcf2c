"""Data parallelism with torchrun: 2 gloo processes on the CPU match one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit import config as config_io
from tests.support import run_process_group, tiny_config

pytestmark = pytest.mark.slow  # torchrun process groups

# Batch norm is per rank on the CPU (SyncBatchNorm has no CPU kernel), so the model
# here has none; the gradient penalty, flips, labels and the adaptive augmentation
# exercise every random draw, and R1 and ADA's averaged verdicts every reduction.
SECTIONS = {
    "model": {"g_norm": "layer", "d_norm": "spectral"},
    "loss": {"loss": "wgan-gp", "r1_gamma": 0.5, "r1_every": 2},
    "train": {
        "n_critic": 2,
        "steps": 4,
        "diffaug": "translation,cutout,color",
        "ada_target": 0.6,
        "ada_speed_images": 200,
    },
    "data": {"hflip": True},
}
# Crops and rotations are left out: each rank's images are bit-identical to its slice of
# one process's (tests/data/test_augment.py), yet the smoother images they make move
# the weights apart by a little more (1.3e-5 after 4 steps) than the 1e-5 allowed here
# for summing the ranks' gradients in another order (Adam can amplify that where a
# gradient is near zero).


def _gankit(args, nproc, cwd, timeout=240):
    launcher = [sys.executable, "-m", "gankit"]
    if nproc > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "gankit",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANKIT_DIST_TIMEOUT_S": "60"}
    return run_process_group([*launcher, *args], timeout, cwd=cwd, env=env)


def _state(run, step):
    return load_file(str(run / "checkpoints" / f"step_{step:07d}" / "training.safetensors"))


def _assert_close(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
        else:
            assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    config_io.save(tiny_config(**SECTIONS), root / "cfg.yaml")
    one = _gankit(["train", "--config", "cfg.yaml", "--out", "one", "--quiet"], 1, root)
    assert one.returncode == 0, one.stderr
    two = _gankit(["train", "--config", "cfg.yaml", "--out", "two", "--quiet"], 2, root)
    assert two.returncode == 0, two.stderr
    return root, two


def test_two_ranks_match_one_process(runs):
    root, two = runs
    _assert_close(_state(root / "one", 4), _state(root / "two", 4))
    assert two.stdout.count("finished at step 4/4") == 1  # only rank 0 reports
    # The log shows the global batch's values: the ranks average theirs, so each step's
    # losses and scores match one process's (to float rounding of the average).
    one_log = [json.loads(line) for line in (root / "one" / "metrics.jsonl").open()]
    two_log = [json.loads(line) for line in (root / "two" / "metrics.jsonl").open()]
    assert [r["step"] for r in one_log] == [r["step"] for r in two_log] == [1, 2, 3, 4]
    for one, two in zip(one_log, two_log):
        for key in ("d_loss", "g_loss", "d_real", "d_fake", "distance", "gp", "r1"):
            assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-5), (one["step"], key)


def test_resume_with_another_number_of_ranks(runs):
    root, _ = runs
    cfg = tiny_config(**SECTIONS)
    cfg.train.steps = 2
    config_io.save(cfg, root / "half.yaml")
    half = _gankit(["train", "--config", "half.yaml", "--out", "half", "--quiet"], 2, root)
    assert half.returncode == 0, half.stderr
    more = _gankit(["train", "--resume", "half", "--steps", "4", "--quiet"], 1, root)
    assert more.returncode == 0, more.stderr
    _assert_close(_state(root / "one", 4), _state(root / "half", 4))


def test_a_batch_that_does_not_divide_among_ranks(runs):
    root, _ = runs
    bad = _gankit(
        ["train", "--config", "cfg.yaml", "--out", "bad", "--batch-size", "15", "--quiet"], 2, root
    )
    assert bad.returncode != 0
    # Said once (by rank 0); torchrun then adds its own report of the failed processes.
    assert bad.stderr.count("gankit: error: batch size 15 does not divide among 2 processes") == 1


EVALUATING = """
import sys
from tests.support import run_process_group, tiny_config
from gankit import training


class StopsAtStep4:
    higher_is_better = False

    def __call__(self, G, step):
        scores = {"classifier_fid": 10.0 - step}
        if step == 4:
            raise training.StopTraining("pruned", scores)
        return scores


cfg = tiny_config(**SECTIONS)
cfg.train.steps = 6
cfg.log.eval_every, cfg.log.log_every, cfg.log.checkpoint_every = 2, 3, 0
result = training.train(cfg, sys.argv[1], progress=False, make_evaluate=lambda c, d: StopsAtStep4())
print(f"{result.stopped} at step {result.step}")
"""


def test_rank_0s_evaluation_keeps_the_ranks_together(tmp_path):
    # Only rank 0 evaluates, off the log interval: every rank must still join the same
    # flushes and stop at the same step.
    script = tmp_path / "train.py"
    script.write_text(f"SECTIONS = {SECTIONS!r}\n{EVALUATING}")
    # The script imports tests.support: the repository root goes on its path.
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        + [str(script), str(tmp_path / "run")],
        check=False,
        cwd=tmp_path,
        env={
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "GANKIT_DIST_TIMEOUT_S": "60",
            "PYTHONPATH": path,
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    assert "pruned at step 4" in out.stdout  # rank 0's reason
    # Both ranks stopped there (their lines may interleave on the shared pipe).
    assert out.stdout.count(" at step 4") == 2
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*")) == [
        "step_0000002",
        "step_0000004",
    ]
