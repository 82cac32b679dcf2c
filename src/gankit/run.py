"""The on-disk contract of a run folder, and "is this a run?".

    RUN/
      config.yaml            the complete configuration (single source of truth)
      metrics.jsonl          one JSON line per training step
      losses.png             loss, score and distance curves, redrawn while training
      samples/step_XXXXXXX.png
      checkpoints/best.json   which checkpoint scored best in training, and its scores
      checkpoints/step_XXXXXXX/
          generator.safetensors   weights to sample from (the EMA copy when enabled)
          training.safetensors    everything else needed to resume (may be pruned)
          state.json              step, images seen, data order, optimiser settings

A folder is a run when it holds ``config.yaml`` (``is_run``). Everything later
(generate, evaluate, tune, reproduce, serve) needs only the run's path, and
finds every file through ``Run`` rather than by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gankit import config as config_io
from gankit import durable
from gankit.config import Config
from gankit.errors import GankitError

CONFIG_FILE = "config.yaml"
BEST_FILE = "best.json"  # in checkpoints/: {"step": S, first metric: value, ...}
_STEP_DIR = re.compile(r"^step_(\d{7,})$")
_SAMPLE = re.compile(r"^step_(\d{7,})\.png$")


def step_name(step: int) -> str:
    return f"step_{step:07d}"


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a run folder: one holding a ``config.yaml``."""
    return (Path(path) / CONFIG_FILE).is_file()


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def losses_path(self) -> Path:
        return self.path / "losses.png"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_path(self) -> Path:
        return self.checkpoints_dir / BEST_FILE

    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"{step_name(step)}.png"

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_dir / step_name(step)

    def config(self) -> Config:
        return config_io.load(self.config_path)

    def checkpoint_steps(self) -> list[int]:
        """Steps of the complete checkpoints (a checkpoint folder appears only once complete).

        Leftovers of an interrupted write (hidden ``.step_XXXXXXX.tmp`` / ``.old``) are not
        checkpoints; ``tidy`` cleans them.
        """
        if not self.checkpoints_dir.is_dir():
            return []
        steps = []
        for child in self.checkpoints_dir.iterdir():
            m = _STEP_DIR.match(child.name)
            if m and child.is_symlink():
                refuse_outside(self.path, child)
            if m and (child / "state.json").is_file():
                steps.append(int(m.group(1)))
        return sorted(steps)

    def sample_steps(self) -> list[int]:
        """Steps of the sample grids written while training, in order."""
        if not self.samples_dir.is_dir():
            return []
        found = (_SAMPLE.match(p.name) for p in self.samples_dir.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def has_best(self) -> bool:
        """Whether an evaluation while training has marked a checkpoint ``best``."""
        return self.best_path.is_file()

    def best(self) -> dict | None:
        """The ``best.json`` record (``step`` and the scores it was chosen by), None if none.

        Raises:
            GankitError: the file is damaged.
        """
        if not self.has_best():
            return None
        try:
            record = json.loads(self.best_path.read_text())
        except (OSError, ValueError):
            record = None
        if not _is_best_record(record):
            raise GankitError(
                f"{self.best_path} is damaged - delete it (the next evaluation while "
                "training writes it again)"
            )
        return record

    def best_step(self) -> int | None:
        """The step of the checkpoint marked ``best``, None if none is."""
        record = self.best()
        return None if record is None else record["step"]

    def resolve_checkpoint(self, which: str | int = "latest") -> Path:
        """``latest``, ``best`` or a step number -> that checkpoint's folder, or a clear error."""
        return self.checkpoint_dir(self.resolve_step(which))

    def resolve_step(self, which: str | int = "latest") -> int:
        """``latest``, ``best`` or a step number -> the step of a complete checkpoint."""
        steps = self.checkpoint_steps()
        if not steps:
            raise GankitError(
                f"run {self.path} has no checkpoints yet - train it first "
                f"(gankit train --resume {self.path} starts it from its config)"
            )
        if str(which) == "latest":
            return steps[-1]
        if str(which) == "best":
            which = self.best_step()
            if which is None:
                raise GankitError(
                    f"run {self.path} has no best checkpoint - train with --eval-every N"
                )
        try:
            step = int(which)
        except ValueError:
            raise GankitError(
                f"--checkpoint must be 'latest', 'best' or a step number, got {which!r}"
            ) from None
        if step not in steps:
            shown = ", ".join(map(str, steps[-8:]))
            raise GankitError(f"run {self.path} has no checkpoint at step {step} (has: {shown})")
        return step


def _is_best_record(record) -> bool:
    """``{"step": S, metric: value, ...}`` with a real step and numbers for scores."""
    if not isinstance(record, dict):
        return False
    step, scores = record.get("step"), [v for k, v in record.items() if k != "step"]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores)
    return isinstance(step, int) and not isinstance(step, bool) and step >= 0 and numbers


def refuse_outside(root: Path, path: Path) -> None:
    """Refuses a link under ``root`` that leads out of it (or nowhere).

    A run reads only its own files: a checkpoint linked in from elsewhere would be
    trusted as this run's, and a later prune or re-save would act through the link.
    """
    try:
        inside = path.resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError):  # a loop of links
        inside = False
    if not inside:
        raise GankitError(
            f"{path} is a link leading outside the run folder {root} - put the files "
            "themselves there, or point at the run they belong to"
        )


def create_run(path: str | Path, cfg: Config) -> Run:
    """Makes a new run folder and writes its config before anything else happens.

    The folder is put together under a temporary name and renamed into place, so a
    crash never leaves a folder that is neither a run nor empty.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if is_run(path):
            raise GankitError(
                f"{path} is already a run - continue it with gankit train --resume {path}, "
                "or pick another --out"
            )
        raise GankitError(f"{path} already exists and is not empty - pick another --out")
    run = Run(path)
    tmp = Run(durable.temp_path(path))
    try:
        durable.remove(tmp.path)  # left by a crash while creating this same run
        tmp.samples_dir.mkdir(parents=True)
        tmp.checkpoints_dir.mkdir()
        config_io.save(cfg, tmp.config_path)
        durable.sync_folder(tmp.path)
        # rename(2) also replaces an empty folder the user made for the run
        durable.replace_folder(tmp.path, path)
    except OSError as e:
        durable.remove(tmp.path)
        raise GankitError(
            f"cannot create run folder {path}: {durable.describe(e)} - check the path and free space"
        ) from None
    return run


def save_config(run: Run, cfg: Config) -> None:
    """Replaces the run's ``config.yaml`` (e.g. a resume's new schedule), atomically.

    Raises:
        GankitError: the disk is full or failing; the previous config is intact.
    """
    try:
        config_io.save(cfg, run.config_path)
    except OSError as e:
        raise GankitError(
            f"could not save {run.config_path}: {durable.describe(e)} - free space and resume with "
            f"gankit train --resume {run.path}"
        ) from None


def tidy(run: Run) -> None:
    """Cleans what an interrupted write left in the run folder (see ``gankit.durable``)."""
    for folder in (run.path, run.samples_dir, run.checkpoints_dir):
        durable.tidy(folder)


def open_run(path: str | Path) -> Run:
    """An existing run folder, or one line saying why the path is not one."""
    path = Path(path)
    if not path.exists():
        raise GankitError(
            f"run folder {path} does not exist - check the path (runs are made by gankit train)"
        )
    if not path.is_dir():
        raise GankitError(f"{path} is a file, not a run folder")
    run = Run(path)
    if not is_run(path):
        raise GankitError(
            f"{path} is not a gankit run (no {CONFIG_FILE}) - point at a folder made by gankit train"
        )
    return run
