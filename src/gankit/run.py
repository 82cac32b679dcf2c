"""The on-disk contract of a run folder, and "is this a run?".

    RUN/
      config.yaml            the complete configuration (single source of truth)
      metrics.jsonl          one JSON line per training step
      losses.png             loss, score and distance curves, redrawn while training
      samples/step_XXXXXXX.png
      checkpoints/step_XXXXXXX/
          generator.safetensors   weights to sample from (the EMA copy when enabled)
          training.safetensors    everything else needed to resume (may be pruned)
          state.json              step, images seen, data order, optimiser settings

Everything later (generate, evaluate, serve) needs only the run's path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gankit import config as config_io
from gankit.config import Config
from gankit.errors import GankitError

_STEP_DIR = re.compile(r"^step_(\d{7,})$")


def step_name(step: int) -> str:
    return f"step_{step:07d}"


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

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

    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"{step_name(step)}.png"

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_dir / step_name(step)

    def config(self) -> Config:
        return config_io.load(self.config_path)

    def checkpoint_steps(self) -> list[int]:
        """Steps of the complete checkpoints (a checkpoint folder appears only once complete)."""
        if not self.checkpoints_dir.is_dir():
            return []
        steps = []
        for child in self.checkpoints_dir.iterdir():
            m = _STEP_DIR.match(child.name)
            if m and (child / "state.json").is_file():
                steps.append(int(m.group(1)))
        return sorted(steps)

    def resolve_checkpoint(self, which: str | int = "latest") -> Path:
        """``latest`` or a step number -> that checkpoint's folder, or a clear error."""
        steps = self.checkpoint_steps()
        if not steps:
            raise GankitError(
                f"run {self.path} has no checkpoints yet - train it first (gankit train)"
            )
        if str(which) == "latest":
            return self.checkpoint_dir(steps[-1])
        if str(which) == "best":
            best = self.checkpoints_dir / "best.json"
            if not best.is_file():
                raise GankitError(
                    f"run {self.path} has no best checkpoint - train with --eval-every N"
                )
            which = json.loads(best.read_text())["step"]
        try:
            step = int(which)
        except ValueError:
            raise GankitError(
                f"--checkpoint must be 'latest', 'best' or a step number, got {which!r}"
            ) from None
        if step not in steps:
            shown = ", ".join(map(str, steps[-8:]))
            raise GankitError(f"run {self.path} has no checkpoint at step {step} (has: {shown})")
        return self.checkpoint_dir(step)


def create_run(path: str | Path, cfg: Config) -> Run:
    """Makes a new run folder and writes its config before anything else happens."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise GankitError(
            f"{path} already exists and is not empty - pick another --out, or --resume it"
        )
    run = Run(path)
    try:
        run.samples_dir.mkdir(parents=True, exist_ok=True)
        run.checkpoints_dir.mkdir(exist_ok=True)
        config_io.save(cfg, run.config_path)
    except OSError as e:
        raise GankitError(f"cannot create run folder {path}: {e.strerror or e}") from None
    return run


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
    if not run.config_path.is_file():
        raise GankitError(
            f"{path} is not a gankit run (no config.yaml) - point at a folder made by gankit train"
        )
    return run
