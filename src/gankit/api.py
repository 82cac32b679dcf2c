"""The Python API: what ``import gankit`` offers, and what the CLI commands call.

Each function is one experiment step as a user thinks of it - train, resume,
load a generator, measure - taking plain values (a preset name, a path, a
number) and returning plain results. The CLI adds printing and exit codes and
nothing else. Heavy modules (torch, the metrics) are imported inside the
functions, so ``import gankit`` stays instant.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gankit import config as config_io
from gankit.config import Config
from gankit.errors import GankitError
from gankit.presets import get_preset
from gankit.run import Run, open_run

if TYPE_CHECKING:
    from gankit.trained import TrainedGenerator
    from gankit.training import TrainResult


def experiment(config: Config | str | Path = "fashion", **overrides: Any) -> Config:
    """A complete config: a ``Config``, a preset name or a ``config.yaml`` path, plus overrides.

    Args:
        config: where to start (``gankit.presets`` names the presets).
        overrides: any config field by its name, e.g. ``steps=500, lr_d=4e-4``; values are
            checked against the field's type as on the command line.
    """
    if isinstance(config, Config):
        base = config
    elif isinstance(config, Path) or str(config).endswith((".yaml", ".yml")):
        base = config_io.load(Path(config))
    else:
        base = get_preset(str(config))
    return config_io.override(base, overrides)


def default_out(cfg: Config) -> Path:
    """``runs/PRESET-YYYYmmdd-HHMMSS``: where a run goes when no folder is given."""
    return Path("runs") / f"{cfg.preset or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    config: Config | str | Path = "fashion",
    out: str | Path | None = None,
    *,
    progress: bool = False,
    **overrides: Any,
) -> TrainResult:
    """Trains a new run and returns how it ended (step, images, checkpoint, ...).

    Args:
        config: a preset name, a ``config.yaml`` path or a ``Config``.
        out: the run folder to create (default ``runs/PRESET-TIME``); it must not exist
            or be empty.
        progress: show a progress bar on a terminal.
        overrides: config fields, e.g. ``max_minutes=10`` or ``eval_every=1000``.

    Raises:
        training.Interrupted: SIGINT/SIGTERM arrived; a checkpoint was saved first.
    """
    from gankit import training

    cfg = experiment(config, **overrides)
    out = Path(out) if out is not None else default_out(cfg)
    return training.train(cfg, out, progress=progress, make_evaluate=_monitor)


def resume(run: str | Path, *, progress: bool = False, **overrides: Any) -> TrainResult:
    """Continues a run from its latest checkpoint, bit for bit as if never stopped.

    Args:
        overrides: only the schedule, logging and device may change (e.g. ``epochs=250``,
            ``max_minutes=5``); anything else would make it another experiment.
    """
    from gankit import training

    opened, cfg = resumed_experiment(run, **overrides)
    return training.resume(opened, cfg, progress=progress, make_evaluate=_monitor)


def resumed_experiment(run: str | Path, **overrides: Any) -> tuple[Run, Config]:
    """The run and the config it continues with: its own, with schedule/logging/device changes."""
    opened = open_run(run)
    fixed = sorted(set(overrides) - config_io.RESUMABLE)
    if fixed:
        names = ", ".join("--" + n.replace("_", "-") for n in fixed)
        raise GankitError(
            f"{names} cannot change when resuming (it would be another experiment) - "
            "start a new run instead"
        )
    return opened, config_io.override(opened.config(), overrides)


def load(
    run: str | Path, checkpoint: str | int = "latest", device: str = "cpu"
) -> TrainedGenerator:
    """A run's generator, ready to sample: ``load(run).generate(8, labels="bag", seed=0)``.

    Args:
        checkpoint: ``"latest"``, ``"best"`` (kept by ``eval_every``) or a step number.
        device: where it runs (``"auto"`` picks cuda, then mps, then cpu).
    """
    from gankit.trained import TrainedGenerator
    from gankit.training import pick_device

    return TrainedGenerator.open(run, checkpoint, str(pick_device(device)))


def fid(
    a: str | Path,
    b: str | Path,
    *,
    n: int = 10_000,
    kid: bool = False,
    prdc: bool = False,
    device: str = "auto",
    seed: int = 0,
    batch_size: int = 64,
) -> dict:
    """FID (and optionally KID, precision/recall/density/coverage) between two image sources.

    Args:
        a, b: a run (``RUN`` or ``RUN@STEP``), an image folder, an ``.npz``/``.npy`` of uint8
            images, or a dataset ``NAME:SPLIT`` such as ``fashion-mnist:test``.
        n: images per side; the standard figure uses 10,000.

    Returns:
        ``{"fid": ..., [kid_mean, kid_std, precision, ...], "protocol": {...}}``: the protocol
        (network, resize, N, splits, seed) belongs with every number reported.
    """
    from gankit.metrics import compare_sources
    from gankit.training import pick_device

    if n < 2:
        raise GankitError(f"n must be at least 2 (a covariance needs two images), got {n}")
    return compare_sources(
        str(a),
        str(b),
        n=n,
        kid=kid,
        prdc=prdc,
        batch_size=batch_size,
        device=pick_device(device),
        seed=seed,
    )


def evaluate(run: str | Path, *, out: str | Path | None = None, **options: Any) -> dict:
    """Evaluates a run as ``gankit evaluate`` does and writes its report (default ``RUN/eval``).

    Args:
        options: fields of ``gankit.options.EvalOptions``, e.g. ``n=1000, kid=True``.

    Returns:
        The results as written to the report's ``metrics.json``.
    """
    from gankit.metrics.evaluate import evaluate_run
    from gankit.options import EvalOptions
    from gankit.training import pick_device

    options["device"] = pick_device(str(options.get("device", "cpu")))
    try:
        opts = EvalOptions(**options)
    except TypeError as e:
        raise GankitError(f"evaluate: {e} - see gankit.options.EvalOptions") from None
    result, _ = evaluate_run(run, opts, out=Path(out) if out is not None else None)
    return result


def _monitor(cfg: Config, device):
    """With ``eval_every``: classifier FID and class entropy during training."""
    from gankit.metrics.monitor import training_monitor

    return training_monitor(cfg, device, say=say)


def is_main_process() -> bool:
    """Rank 0 under torchrun (read from its environment, before torch loads), else True."""
    return os.environ.get("RANK", "0") == "0"


def say(text: str) -> None:
    """Prints once per job: on rank 0 only under torchrun."""
    if is_main_process():
        print(text, flush=True)
