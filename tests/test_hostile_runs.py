"""Hostile run folders and YAML files: each is refused in one line, and nothing changes.

Checkpoints (safetensors with NaN, wrong shapes or dtypes, lying headers, cut or
foreign files; a damaged ``state.json`` or ``best.json``; links leading out of the
run) go through ``gankit train --resume``, ``gankit generate`` and ``gankit
evaluate``; config and search-space YAML (alias bombs, wrong types, numbers out of
range, duplicate keys, junk) through ``gankit train --config`` and ``gankit tune
--space``. Every case: a non-zero exit, exactly one ``gankit: error:`` line on
stderr, no traceback, and every file under the test's folder as it was.
"""

import json
import math
import shutil
import struct
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from gankit import training
from gankit.checkpoint import GENERATOR_FILE, STATE_FILE, TRAINING_FILE, best_score
from gankit.cli import main
from gankit.errors import GankitError
from gankit.run import Run
from tests.data.hostile_files import fingerprint
from tests.support import tiny_config

CKPT = Path("checkpoints/step_0000003")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny conditional run with one checkpoint (step 3) holding both tensor files."""
    root = tmp_path_factory.mktemp("hostile-runs") / "run"
    with pytest.MonkeyPatch.context() as patch:  # the session's private cache, as conftest's
        patch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache" / "gankit"))
        log = {"log_every": 1, "sample_every": 0, "checkpoint_every": 3}
        training.train(tiny_config(train={"steps": 3}, log=log), root, progress=False)
    return root


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of the trained run for one test to damage."""
    return Path(shutil.copytree(trained, tmp_path / "run", symlinks=True))


def refused(capsys, argv: list, folder: Path) -> str:
    """Runs ``gankit ARGV``: one error line, non-zero, nothing under ``folder`` changed."""
    before = fingerprint(folder)
    assert main([str(a) for a in argv]) != 0
    out = capsys.readouterr().err.strip()
    assert "Traceback" not in out, out
    # evaluate reports its progress on stderr first; the answer is one line, the last
    err = out.splitlines()[-1]
    assert err.startswith("gankit: error: ") and out.count("gankit: error") == 1, out
    assert " - " in err, err  # what is wrong - how to fix it
    assert fingerprint(folder) == before
    return err


def generate(run: Path) -> list:
    return ["generate", run, "--out", run.parent / "out.png", "--n", 2]


def resume(run: Path) -> list:
    return ["train", "--resume", run, "--quiet"]


def evaluate(run: Path) -> list:
    flags = ["--n", 16, "--no-classes", "--memorization", 0, "--device", "cpu"]
    return ["evaluate", run, *flags, "--out", run.parent / "eval"]


# --- safetensors files -----------------------------------------------------------------


def _weight(tensors: dict) -> str:
    """A weight of G: a floating tensor with elements (``G.`` ones in the training file)."""
    names = sorted(k for k, t in tensors.items() if t.is_floating_point() and t.numel() > 1)
    return next((k for k in names if k.startswith("G.")), names[0])


def _poke(value: float, tensors: dict) -> None:
    key = _weight(tensors)
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = value


def _reshape(tensors: dict) -> None:
    key = _weight(tensors)
    tensors[key] = torch.zeros(tensors[key].numel() + 1)


def _cast(dtype: torch.dtype, tensors: dict) -> None:
    key = _weight(tensors)
    tensors[key] = tensors[key].to(dtype)


def _drop(tensors: dict) -> None:
    del tensors[_weight(tensors)]


def _extra(tensors: dict) -> None:
    tensors["G.stowaway"] = torch.zeros(3)


def _rewritten(change, path: Path, outside: Path) -> None:
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def _header_length(length: int, path: Path, outside: Path) -> None:
    """The 8-byte header length says ``length``; the rest of the file is as it was."""
    path.write_bytes(struct.pack("<Q", length) + path.read_bytes()[8:])


def _huge_offsets(path: Path, outside: Path) -> None:
    """A well-formed header declaring a 10^12-element tensor that the file does not hold."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    key = next(k for k in header if k != "__metadata__")
    header[key].update(shape=[1_000_000, 1_000_000], data_offsets=[0, 4 * 10**12])
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size :])


def _truncated(path: Path, outside: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _text(path: Path, outside: Path) -> None:
    path.write_text("these are not the weights you are looking for\n" * 20)


def _linked_outside(path: Path, outside: Path) -> None:
    """The file moves outside the run; a link to it stays in its place."""
    outside.mkdir(exist_ok=True)
    target = outside / path.name
    shutil.move(path, target)
    path.symlink_to(target)


# case -> (damage(file, a folder outside the run), what the error line says)
TENSOR_FILES = {
    "nan": (partial(_rewritten, partial(_poke, math.nan)), "not finite"),
    "inf": (partial(_rewritten, partial(_poke, -math.inf)), "not finite"),
    "wrong-shape": (partial(_rewritten, _reshape), "does not match the model"),
    "int64": (partial(_rewritten, partial(_cast, torch.int64)), "as torch.int64"),
    # Refused, not cast: gankit writes the model's own dtype, and a cast may overflow to inf.
    "float64": (partial(_rewritten, partial(_cast, torch.float64)), "as torch.float64"),
    "missing-key": (partial(_rewritten, _drop), "does not match the model"),
    "extra-key": (partial(_rewritten, _extra), "does not match the model"),
    "header-says-10GB": (partial(_header_length, 10 * 2**30), "truncated or damaged"),
    "header-says-90MB": (partial(_header_length, 90 * 2**20), "truncated or damaged"),
    "huge-offsets": (_huge_offsets, "truncated or damaged"),
    "truncated": (_truncated, "truncated or damaged"),
    "empty": (lambda path, outside: path.write_bytes(b""), "truncated or damaged"),
    "text": (_text, "truncated or damaged"),
    "link-outside": (_linked_outside, "link leading outside the run folder"),
}


@pytest.mark.parametrize("case", list(TENSOR_FILES))
def test_generate_refuses_a_damaged_generator_file(case, run, capsys):
    damage, says = TENSOR_FILES[case]
    damage(run / CKPT / GENERATOR_FILE, run.parent / "elsewhere")
    err = refused(capsys, generate(run), run.parent)
    assert says in err and GENERATOR_FILE in err


@pytest.mark.parametrize("case", list(TENSOR_FILES))
def test_resume_refuses_a_damaged_training_file(case, run, capsys):
    damage, says = TENSOR_FILES[case]
    damage(run / CKPT / TRAINING_FILE, run.parent / "elsewhere")
    err = refused(capsys, resume(run), run.parent)
    assert says in err and TRAINING_FILE in err


@pytest.mark.parametrize("case", ["nan", "wrong-shape", "header-says-10GB"])
def test_evaluate_refuses_a_damaged_generator_file(case, run, capsys, fake_inception):
    damage, says = TENSOR_FILES[case]
    damage(run / CKPT / GENERATOR_FILE, run.parent / "elsewhere")
    err = refused(capsys, evaluate(run), run.parent)
    assert says in err and GENERATOR_FILE in err


# --- state.json ------------------------------------------------------------------------


def _state_text(text: str, path: Path) -> None:
    path.write_text(text)


def _state_changed(changes: dict, path: Path) -> None:
    state = json.loads(path.read_text()) | changes
    path.write_text(json.dumps(state))


def _state_without(key: str, path: Path) -> None:
    state = json.loads(path.read_text())
    del state[key]
    path.write_text(json.dumps(state))


# case -> (damage(state.json), what the error line says)
STATES = {
    "not-json": (partial(_state_text, '{"format": "gankit-checkpoint", '), "not valid JSON"),
    "nested-100000-deep": (partial(_state_text, "[" * 100_000 + "]" * 100_000), "not valid JSON"),
    "a-list": (partial(_state_text, "[1, 2, 3]"), "not a gankit checkpoint"),
    "step-as-text": (partial(_state_changed, {"step": "3"}), "step is '3'"),
    "negative-step": (partial(_state_changed, {"step": -3}), "step is -3"),
    "step-10**30": (
        partial(_state_changed, {"step": 10**30}),
        "step is 1000000000000000000000000000000, not a whole",
    ),
    "step-10**400": (partial(_state_changed, {"step": 10**400}), "not a whole number"),
    "step-1e30": (partial(_state_changed, {"step": 1e30}), "step is 1e+30"),
    "step-of-another-folder": (partial(_state_changed, {"step": 4}), "says step 4"),
    "no-step": (partial(_state_without, "step"), "no step"),
    "order-a-list": (partial(_state_changed, {"order": []}), "order is []"),
    "nan-seconds": (partial(_state_changed, {"elapsed_seconds": math.nan}), "elapsed_seconds"),
    "version-as-text": (partial(_state_changed, {"version": "one"}), "version 'one'"),
}
# Fields only resuming needs: sampling a checkpoint without them is fine.
RESUME_STATES = {
    "no-order": (partial(_state_without, "order"), "no order"),
    "no-images-seen": (partial(_state_without, "images_seen"), "no images_seen"),
    "optimizer-a-list": (partial(_state_changed, {"opt_g": [1]}), "opt_g is [1]"),
    "param-groups-text": (
        partial(_state_changed, {"opt_d": {"param_groups": "x"}}),
        "param_groups is not a list",
    ),
}
COMMANDS = {"generate": generate, "resume": resume}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(STATES))
def test_a_damaged_state_json_is_refused(case, command, run, capsys):
    damage, says = STATES[case]
    damage(run / CKPT / STATE_FILE)
    assert says in refused(capsys, COMMANDS[command](run), run.parent)


@pytest.mark.parametrize("case", list(RESUME_STATES))
def test_resume_refuses_a_state_json_without_its_training_half(case, run, capsys):
    damage, says = RESUME_STATES[case]
    damage(run / CKPT / STATE_FILE)
    assert says in refused(capsys, resume(run), run.parent)


# --- links out of the run, and best.json --------------------------------------------------


@pytest.mark.parametrize("command", ["generate", "resume", "evaluate"])
def test_a_checkpoint_folder_linked_from_outside_is_refused(command, run, capsys, fake_inception):
    _linked_outside(run / CKPT, run.parent / "elsewhere")
    argv = {"generate": generate, "resume": resume, "evaluate": evaluate}[command](run)
    assert "link leading outside the run folder" in refused(capsys, argv, run.parent)


BEST = {
    "not-json": "{'step': 3}",
    "step-true": '{"step": true, "fid": 12.5}',
    "score-as-text": '{"step": 3, "fid": "low"}',
    "no-step": '{"fid": 12.5}',
}


@pytest.mark.parametrize("case", list(BEST))
def test_a_damaged_best_json_is_refused(case, run, capsys):
    (run / "checkpoints" / "best.json").write_text(BEST[case])
    err = refused(capsys, [*generate(run), "--checkpoint", "best"], run.parent)
    assert "best.json is damaged" in err
    with pytest.raises(GankitError, match="best.json is damaged"):  # what resuming reads
        best_score(Run(run))


# --- config and space YAML -----------------------------------------------------------------

BASE = "data: {dataset: shapes, shapes_count: 96}\ntrain: {steps: 2, batch_size: 16, device: cpu}\n"
# Ten anchors, each a list of ten aliases of the one before: 10^10 values in 400 bytes.
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)


def _with(section: str, text: str) -> str:
    return BASE.replace(f"{section}: {{", f"{section}: {{{text}, ")


# case -> (file contents, what the error line says)
CONFIGS = {
    "alias-bomb": (BOMB, "expands to more than"),
    "alias-bomb-as-a-value": (
        BOMB.replace("a9: &a9", "train:\n  batch_size: &a9"),
        "expands to more than",
    ),
    "recursive-alias": ("train: &t {steps: 2, again: *t}\n", "refers to itself"),
    "nested-10000-deep": ("train: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested too deeply"),
    "batch-size-text": (BASE.replace("16", "abc"), "expected an integer, got 'abc'"),
    "lr-a-list": (_with("train", "lr_g: [1, 2]"), "expected a number, got [1, 2]"),
    "model-a-number": (BASE + "model: 5\n", "section 'model' must be a mapping"),
    "unknown-section": (BASE + "trian: {steps: 3}\n", "did you mean 'train'"),
    "unknown-field": (_with("train", "stpes: 3"), "did you mean 'steps'"),
    "batch-size-1e300": (BASE.replace("16", "1.0e+300"), "out of range"),
    "steps-10**40": (BASE.replace("steps: 2", "steps: 1" + "0" * 40), "out of range"),
    "img-size-10**9": (_with("data", "img_size: 1000000000"), "must be at most 4096"),
    "batch-size-0": (BASE.replace("16", "0"), "must be at least 1"),
    "batch-size-negative": (BASE.replace("16", "-16"), "must be at least 1"),
    "lr-negative": (_with("train", "lr_d: -0.001"), "must be at least 0"),
    "epochs-nan": (_with("train", "epochs: .nan"), "expected a finite number"),
    "a-list": ("- train\n- data\n", "expected a mapping of sections"),
    "binary": (bytes(range(256)) * 8, "not UTF-8 text"),
    "nul-bytes": ("train: {steps: 2}\n\0\0\0\n", "not valid YAML"),
    "empty": ("", "is empty"),
    "over-1MiB": ("# " + "x" * (1 << 20) + "\n" + BASE, "larger than 1 MiB"),
    "duplicate-section": (BASE + "train: {steps: 5}\n", "key 'train' is given twice"),
    "duplicate-field": (_with("train", "steps: 9"), "key 'steps' is given twice"),
}


def _write(folder: Path, name: str, contents) -> Path:
    path = folder / name
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    else:
        path.write_text(contents)
    return path


@pytest.mark.parametrize("mode", ["dry-run", "out"])
@pytest.mark.parametrize("case", list(CONFIGS))
def test_a_hostile_config_is_refused_fast(case, mode, tmp_path, capsys):
    contents, says = CONFIGS[case]
    config = _write(tmp_path, "config.yaml", contents)
    out = tmp_path / "new-run"
    argv = ["train", "--config", config, "--quiet"]
    argv += ["--dry-run"] if mode == "dry-run" else ["--out", out]
    start = time.process_time()  # CPU time: a busy machine does not make a case slow
    err = refused(capsys, argv, tmp_path)
    assert time.process_time() - start < 2.0  # no bomb expanded, no data loaded
    assert says in err and not out.exists()


GOOD_SPACE = "lr_g: {dist: loguniform, low: 1.0e-5, high: 1.0e-3}\n"
SPACES = {
    "alias-bomb": (BOMB, "expands to more than"),
    "duplicate-field": (GOOD_SPACE * 2, "key 'lr_g' is given twice"),
    "a-list": ("- lr_g\n", "expected a mapping of config fields"),
    "empty": ("", "expected a mapping of config fields"),
    "binary": (bytes(range(256)) * 8, "not UTF-8 text"),
    "over-1MiB": ("# " + "x" * (1 << 20) + "\n" + GOOD_SPACE, "larger than 1 MiB"),
    "low-as-text": ("lr_g: {dist: loguniform, low: abc, high: 1}\n", "low: expected a number"),
    "high-nan": ("lr_g: {dist: uniform, low: 0, high: .nan}\n", "high: expected a number"),
    "unknown-field": ("lr_gg: {dist: uniform, low: 0, high: 1}\n", "did you mean 'lr_g'"),
    "negative-batch-choice": (
        "batch_size: {dist: categorical, choices: [16, -16]}\n",
        "must be at least 1",
    ),
}


@pytest.mark.parametrize("case", list(SPACES))
def test_a_hostile_space_file_is_refused(case, tmp_path, capsys):
    contents, says = SPACES[case]
    space = _write(tmp_path, "space.yaml", contents)
    study = tmp_path / "study"
    argv = ["tune", "--space", space, "--trials", 1, "--study", study]
    assert says in refused(capsys, argv, tmp_path) and not study.exists()


# --- the same answers from a real process: no traceback on the way out -----------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", ["nan-generator", "alias-bomb"])
def test_a_real_process_answers_in_one_line(case, run):
    if case == "nan-generator":
        TENSOR_FILES["nan"][0](run / CKPT / GENERATOR_FILE, run.parent / "elsewhere")
        argv = ["generate", run, "--out", run.parent / "out.png"]
    else:
        argv = ["train", "--config", _write(run.parent, "bomb.yaml", BOMB), "--dry-run"]
    before = fingerprint(run.parent)
    done = subprocess.run(
        [sys.executable, "-m", "gankit", *map(str, argv)],
        capture_output=True,
        text=True,
        check=False,
    )
    err = done.stderr.strip()
    assert done.returncode == 2 and "Traceback" not in err, err
    assert err.startswith("gankit: error: ") and "\n" not in err, err
    assert fingerprint(run.parent) == before
