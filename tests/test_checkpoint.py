import errno
import json

import pytest
import torch

from gankit import checkpoint
from gankit.checkpoint import (
    flatten_optimizer,
    read_state,
    read_tensors,
    unflatten_optimizer,
    write_checkpoint,
)
from gankit.config import Config
from gankit.errors import GankitError
from gankit.run import create_run, is_run, open_run


@pytest.fixture
def run(tmp_path):
    return create_run(tmp_path / "run", Config())


def _write(run, step):
    return write_checkpoint(
        run,
        step,
        generator={"w": torch.full((3,), float(step))},
        training={"x": torch.zeros(2)},
        state={"images_seen": step},
    )


def test_write_and_read_back(run):
    ckpt = _write(run, 5)
    assert run.checkpoint_steps() == [5] and run.resolve_checkpoint("latest") == ckpt
    assert read_state(ckpt)["step"] == 5
    assert torch.equal(read_tensors(ckpt, checkpoint.GENERATOR_FILE)["w"], torch.full((3,), 5.0))


def test_truncated_and_foreign_checkpoints_are_clear_errors(run):
    ckpt = _write(run, 1)
    path = ckpt / checkpoint.GENERATOR_FILE
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(GankitError, match="truncated or damaged"):
        read_tensors(ckpt, checkpoint.GENERATOR_FILE)
    (ckpt / checkpoint.STATE_FILE).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(GankitError, match="not a gankit checkpoint"):
        read_state(ckpt)


def test_full_disk_leaves_the_previous_checkpoint_intact(run, monkeypatch):
    _write(run, 1)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", no_space)
    with pytest.raises(
        GankitError,
        match="no space left on device; the last checkpoint \\(step 1\\) is intact - free space "
        "and resume with gankit train --resume",
    ):
        _write(run, 2)
    assert run.checkpoint_steps() == [1]
    assert [p.name for p in run.checkpoints_dir.iterdir()] == ["step_0000001"]


def test_unknown_checkpoint_step_lists_the_existing_ones(run):
    _write(run, 3)
    with pytest.raises(GankitError, match="no checkpoint at step 4 \\(has: 3\\)"):
        run.resolve_checkpoint(4)
    with pytest.raises(GankitError, match="'best' or a step number"):
        run.resolve_checkpoint("newest")


def test_optimizer_state_round_trip():
    w = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.Adam([w], lr=0.1, betas=(0.0, 0.9))
    w.sum().backward()
    opt.step()
    tensors, meta = flatten_optimizer(opt.state_dict(), "opt")
    meta = json.loads(json.dumps(meta))  # must survive JSON
    opt2 = torch.optim.Adam([torch.nn.Parameter(w.detach().clone())], lr=0.5)
    opt2.load_state_dict(unflatten_optimizer(tensors, meta, "opt"))
    assert opt2.param_groups[0]["lr"] == 0.1
    assert torch.equal(
        opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )


def test_open_run_rejects_what_is_not_a_run(tmp_path):
    with pytest.raises(GankitError, match="does not exist"):
        open_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="not a gankit run"):
        open_run(tmp_path / "empty")


def test_is_run_means_a_folder_with_its_config(run, tmp_path):
    assert is_run(run.path) and not is_run(tmp_path) and not is_run(tmp_path / "nope")


def test_best_is_read_and_written_through_the_run(run):
    _write(run, 1)
    _write(run, 2)
    assert not run.has_best() and run.best() is None and run.best_step() is None
    assert checkpoint.best_score(run) is None
    with pytest.raises(GankitError, match="no best checkpoint"):
        run.resolve_checkpoint("best")
    checkpoint.mark_best(run, 1, {"fid": 3.5, "kid": 0.1})
    assert run.has_best() and run.best() == {"step": 1, "fid": 3.5, "kid": 0.1}
    assert run.best_step() == 1 and run.resolve_step("best") == 1
    assert run.resolve_checkpoint("best") == run.checkpoint_dir(1)
    assert checkpoint.best_score(run) == 3.5  # the first metric chose it


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"fid": 1.0}', '{"step": "x"}'])
def test_a_damaged_best_json_is_one_clear_line(run, text):
    _write(run, 1)
    run.best_path.write_text(text)
    for read in (
        run.best,
        lambda: run.resolve_checkpoint("best"),
        lambda: checkpoint.best_score(run),
    ):
        with pytest.raises(GankitError, match="best.json is damaged - delete it"):
            read()


def test_sample_steps_are_the_grids_in_order(run):
    for step in (20, 3):
        run.sample_path(step).write_bytes(b"")
    (run.samples_dir / "notes.png").write_bytes(b"")
    assert run.sample_steps() == [3, 20]


def _with_training_state(run):
    steps = run.checkpoint_steps()
    return [s for s in steps if (run.checkpoint_dir(s) / checkpoint.TRAINING_FILE).exists()]


def test_pruning_keeps_the_newest_training_states_and_every_generator(run):
    for step in (1, 2, 3):
        _write(run, step)
    checkpoint.prune_training_states(run, 0)
    assert _with_training_state(run) == [1, 2, 3]
    checkpoint.prune_training_states(run, 2)
    assert _with_training_state(run) == [2, 3]
    checkpoint.drop_training_states(run)
    assert _with_training_state(run) == [] and run.checkpoint_steps() == [1, 2, 3]
    assert all((run.checkpoint_dir(s) / checkpoint.GENERATOR_FILE).exists() for s in (1, 2, 3))
