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
from gankit.run import Run

FORMAT = "gankit-checkpoint"
VERSION = 1
GENERATOR_FILE = "generator.safetensors"
TRAINING_FILE = "training.safetensors"
STATE_FILE = "state.json"


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


def read_state(ckpt: Path) -> dict[str, Any]:
    """The checkpoint's ``state.json``, checked to be one of ours."""
    path = Path(ckpt) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise GankitError(f"{ckpt} is not a gankit checkpoint (no {STATE_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GankitError(f"{path} is damaged (not valid JSON) - use another checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GankitError(f"{ckpt} is not a gankit checkpoint (foreign {STATE_FILE})")
    if state.get("version", 0) > VERSION:
        raise GankitError(
            f"{ckpt} was written by a newer gankit (format {state['version']}) - upgrade gankit"
        )
    return state


def read_tensors(
    ckpt: Path, name: str, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Loads one safetensors file of a checkpoint, turning damage into a clear error."""
    path = Path(ckpt) / name
    if not path.is_file():
        raise GankitError(
            f"{path} is missing - this checkpoint cannot be used for that; pick another"
        )
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GankitError(
            f"{path} is truncated or damaged ({_first_line(e)}) - use another checkpoint"
        ) from None


def load_module_state(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Path
) -> None:
    """``load_state_dict`` that reports a foreign or mismatched checkpoint in one line."""
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
    """Inverse of ``flatten_optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def mark_best(run: Run, step: int, scores: dict[str, float]) -> None:
    """Records checkpoint ``step`` as the run's ``best`` (``checkpoints/best.json``)."""
    record = json.dumps({"step": step, **scores}, indent=1)
    try:
        durable.write_file(run.best_path, record, fault="checkpoint.best")
    except OSError as e:
        raise _disk_error(run, f"could not mark step {step} as the best", e) from None


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
