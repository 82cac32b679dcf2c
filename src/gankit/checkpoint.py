"""Checkpoints as self-describing data, written atomically.

A checkpoint is a folder: tensors in safetensors files, everything else in
``state.json`` with a format version. It is written under a temporary name, synced
and renamed into place (``gankit.durable``), so a checkpoint folder either is
complete or does not exist; a crash or a full disk mid-write never damages the
previous one. This module never decides *when* to save.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gankit import durable, faults
from gankit.errors import GankitError
from gankit.run import Run, refuse_outside, step_name
from gankit.values import shown

FORMAT = "gankit-checkpoint"
VERSION = 1
GENERATOR_FILE = "generator.safetensors"
TRAINING_FILE = "training.safetensors"
STATE_FILE = "state.json"
MAX_STATE_BYTES = 16 << 20  # a state is a few kilobytes of JSON
MAX_COUNT = 2**63 - 1  # steps, images and seconds fit in 64 bits
# The fields a state may hold, by the type each must have (``snapshot`` in training writes them).
STATE_FIELDS = {
    "step": int,
    "images_seen": int,
    "total_steps": int,
    "epoch": float,
    "elapsed_seconds": float,
    "order": dict,
    "opt_g": dict,
    "opt_d": dict,
    "ema": bool,
    "best": dict,  # the scores this step was marked ``best`` by, when it was
}


def write_checkpoint(
    run: Run,
    step: int,
    *,
    generator: dict[str, torch.Tensor],
    training: dict[str, torch.Tensor] | None,
    state: dict[str, Any],
) -> Path:
    """Writes checkpoint ``step`` of ``run`` atomically and durably; returns its folder.

    Re-saving a step replaces the old folder without a moment where neither exists.

    Raises:
        GankitError: the disk is full or failing; the previous checkpoints are intact.
    """
    final = run.checkpoint_dir(step)
    tmp = durable.temp_path(final)
    try:
        durable.tidy(run.checkpoints_dir)  # what a crash mid-write left behind
        tmp.mkdir(parents=True)
        # Each file is synced before the rename, so the rename never publishes a hole.
        _save_tensors(generator, tmp / GENERATOR_FILE)
        faults.point("checkpoint.generator")
        if training is not None:
            _save_tensors(training, tmp / TRAINING_FILE)
            faults.point("checkpoint.training")
        payload = {"format": FORMAT, "version": VERSION, "step": step, **state}
        (tmp / STATE_FILE).write_text(json.dumps(payload, indent=1))
        durable.sync_file(tmp / STATE_FILE)
        faults.point("checkpoint.state")
        durable.sync_folder(tmp)
        faults.point("checkpoint.before-rename")
        durable.replace_folder(tmp, final, fault="checkpoint.aside")
        faults.point("checkpoint.after-rename")
    except OSError as e:
        durable.remove(tmp)
        raise _disk_error(run, f"could not save the checkpoint at step {step}", e) from None
    return final


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file(_cpu(tensors), str(path), metadata={"format": FORMAT})
    durable.sync_file(path)


def _disk_error(run: Run, what: str, e: OSError) -> GankitError:
    """One line for a failed write: why, what is still safe, and how to go on."""
    last = run.checkpoint_steps()
    kept = f"the last checkpoint (step {last[-1]}) is intact" if last else "no checkpoint yet"
    return GankitError(
        f"{what}: {durable.describe(e)}; {kept} - free space and resume with gankit train --resume {run.path}"
    )


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def read_state(ckpt: Path, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """The checkpoint's ``state.json``, checked to be one of ours and well-formed.

    Args:
        require: fields the caller needs besides ``step`` (resume needs the training
            state's); a missing one is a damaged checkpoint.
    """
    path = Path(ckpt) / STATE_FILE
    if path.is_symlink():
        refuse_outside(Path(ckpt).parent.parent, path)
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise GankitError(f"{path} is too large to be a checkpoint's state - use another")
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise GankitError(
            f"{ckpt} is not a gankit checkpoint (no {STATE_FILE}) - {_ONE_OF_OURS}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise GankitError(f"{path} is damaged (not valid JSON) - use another checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GankitError(
            f"{ckpt} is not a gankit checkpoint (foreign {STATE_FILE}) - {_ONE_OF_OURS}"
        )
    version = state.get("version", 0)
    if not _fits(version, int):
        raise GankitError(f"{path} is damaged (version {shown(version)}) - use another checkpoint")
    if version > VERSION:
        raise GankitError(
            f"{ckpt} was written by a newer gankit (format {version}) - upgrade gankit"
        )
    _check_fields(Path(ckpt), state, require)
    return state


_ONE_OF_OURS = "point at a checkpoint that gankit train wrote"
_KINDS = {
    int: "a whole number from 0 to 2^63",
    float: "a finite number, 0 or more",
    dict: "a mapping",
    bool: "true or false",
}


def _check_fields(ckpt: Path, state: dict[str, Any], require: tuple[str, ...]) -> None:
    # A hand-edited or corrupted state must stop here, not as a traceback deep in resume.
    path = ckpt / STATE_FILE
    missing = [key for key in ("step", *require) if key not in state]
    if missing:
        raise GankitError(f"{path} is damaged (no {', '.join(missing)}) - use another checkpoint")
    for key, kind in STATE_FIELDS.items():
        if key in state and not _fits(state[key], kind):
            raise GankitError(
                f"{path} is damaged ({key} is {shown(state[key])}, not {_KINDS[kind]}) - "
                "use another checkpoint"
            )
    if ckpt.name.startswith("step_") and ckpt.name != step_name(state["step"]):
        raise GankitError(
            f"{path} is damaged (it says step {state['step']}, its folder {ckpt.name}) - "
            "use another checkpoint"
        )


def _fits(value: Any, kind: type) -> bool:
    """Whether a JSON value is of ``kind``; numbers must also be finite, 0 or more and in int64."""
    if kind in (dict, bool):
        return isinstance(value, kind)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if kind is int and not isinstance(value, int):
        return False
    return 0 <= value <= MAX_COUNT  # false for NaN and inf too; never converts a huge int


def read_tensors(
    ckpt: Path, name: str, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Loads one safetensors file of a checkpoint, turning damage into a clear error.

    safetensors maps the file and checks its header against the file's size, so a
    header that claims gigabytes is refused without allocating them.
    """
    path = Path(ckpt) / name
    if path.is_symlink():
        refuse_outside(Path(ckpt).parent.parent, path)
    if not path.is_file():
        raise GankitError(
            f"{path} is missing - this checkpoint cannot be used for that; pick another"
        )
    try:
        tensors = load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GankitError(
            f"{path} is truncated or damaged ({_first_line(e)}) - use another checkpoint"
        ) from None
    # Training never saves non-finite weights, so NaN or inf here is damage, not a result.
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise GankitError(
                f"{path}: the weights are not finite (NaN or inf in {key[:80]!r}) - "
                "use another checkpoint"
            )
    return tensors


def load_module_state(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Path
) -> None:
    """``load_state_dict`` that reports a foreign or mismatched checkpoint in one line.

    A tensor must have the model's own dtype: gankit saves exactly what the model holds,
    and a silent cast (float64 to float32) could overflow to inf or hide a foreign file.
    """
    expected = module.state_dict()
    for key, tensor in tensors.items():
        if key in expected and tensor.dtype != expected[key].dtype:
            raise GankitError(
                f"{where} holds {key[:80]!r} as {tensor.dtype}, but the model's is "
                f"{expected[key].dtype} - was the checkpoint written by another program?"
            )
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise GankitError(
            f"{where} does not match the model in config.yaml ({_first_line(e)}) - "
            "was the checkpoint copied from another run?"
        ) from None


def prune_training_states(run: Run, keep: int) -> None:
    """Deletes ``training.safetensors`` from all but the newest ``keep`` checkpoints (0 = keep all).

    Generator snapshots stay, so every checkpoint can still be sampled and evaluated.
    """
    if keep <= 0:
        return
    with_state = [
        s for s in run.checkpoint_steps() if (run.checkpoint_dir(s) / TRAINING_FILE).exists()
    ]
    _drop_training_files(run, with_state[:-keep])


def drop_training_states(run: Run) -> None:
    """Deletes ``training.safetensors`` from every checkpoint: a finished run never resumed.

    Generator snapshots stay, so every checkpoint can still be sampled and evaluated.
    """
    _drop_training_files(run, run.checkpoint_steps())


def _drop_training_files(run: Run, steps: list[int]) -> None:
    try:
        for step in steps:
            faults.point("checkpoint.prune")
            (run.checkpoint_dir(step) / TRAINING_FILE).unlink(missing_ok=True)
    except OSError as e:
        raise _disk_error(run, "could not prune old training states", e) from None


def flatten_optimizer(state: dict[str, Any], prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Splits ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(
    tensors: dict[str, torch.Tensor], meta: dict, prefix: str
) -> dict[str, Any]:
    """Inverse of ``flatten_optimizer``.

    Raises:
        ValueError: ``meta`` is not what ``flatten_optimizer`` writes (a damaged state).
    """
    groups, scalars = meta.get("param_groups"), meta.get("scalars", {})
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ValueError(f"{prefix}: param_groups is not a list of settings")
    if not isinstance(scalars, dict) or not all(isinstance(v, dict) for v in scalars.values()):
        raise ValueError(f"{prefix}: scalars is not a mapping per parameter")
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, values in scalars.items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": groups}


def mark_best(run: Run, step: int, scores: dict[str, float]) -> None:
    """Records checkpoint ``step`` as the run's ``best`` (``checkpoints/best.json``)."""
    record = json.dumps({"step": step, **scores}, indent=1)
    try:
        durable.write_file(run.best_path, record, fault="checkpoint.best")
    except OSError as e:
        raise _disk_error(run, f"could not mark step {step} as the best", e) from None


def finish_best_mark(run: Run) -> None:
    """Marks the latest checkpoint ``best`` when it was saved as the best and a crash
    came between writing it and writing its mark.

    The checkpoint carries the scores it was chosen by (``state.json``'s ``best``), so
    the mark can be written again from the checkpoint alone, even by a resume that has
    nothing left to train.
    """
    steps = run.checkpoint_steps()
    if not steps:
        return
    scores = read_state(run.checkpoint_dir(steps[-1])).get("best")
    if not scores or not all(_fits(v, float) for v in scores.values()):
        return  # not a best, or a score such a mark cannot hold (a non-finite one)
    record = run.best()
    if record is None or record["step"] != steps[-1]:
        mark_best(run, steps[-1], scores)


def best_score(run: Run) -> float | None:
    """The score the current ``best`` checkpoint was chosen by (its first metric), if any."""
    record = run.best()
    if record is None:
        return None
    values = [v for k, v in record.items() if k != "step"]
    return float(values[0]) if values else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def load_generator(run: Run, which: str | int = "latest", device: str | torch.device = "cpu"):
    """Rebuilds G from the run's config and loads a checkpoint's generator weights.

    Returns ``(G, config, state)`` with G in eval mode on ``device``.
    """
    from gankit.images import pixel_scale
    from gankit.models import build_models

    cfg = run.config()
    ckpt = run.resolve_checkpoint(which)
    state = read_state(ckpt)
    G, _ = build_models(
        cfg.model,
        img_size=cfg.data.img_size,
        channels=cfg.data.channels,
        num_classes=len(cfg.data.class_names),
    )
    load_module_state(G, read_tensors(ckpt, GENERATOR_FILE), ckpt / GENERATOR_FILE)
    G.pixel_scale = pixel_scale(cfg.data)  # how its outputs become pixels (see sampling)
    return G.to(device).eval(), cfg, state
