"""Running a document's experiment set: train each preset in stages, measure, report.

Owns the output folder's contract and the resumable schedule::

    OUT/
      reproduction.json    which document, at which --scale (a second run must match)
      REPORT.md, report.html, *.png
      <preset>/            an ordinary run folder per experiment (gankit train's layout)
        reproduce.json     its measured results, each with its protocol (``EvalStore``)

Each experiment is trained to its first evaluation point, evaluated, resumed to the
next point with ``gankit.training.resume``, and so on (seed 000's WGAN-GP is
"200 epochs, then resumed for 50 more" in exactly this way). A point whose
checkpoint exists is not trained again, a result in the store is read back, and an
interrupted stage continues from its latest checkpoint - so running the same
command again picks up where the last one stopped. Data that is missing skips its
experiments with the data layer's own one-line message; the others still run.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from gankit import config as config_io
from gankit import durable, training
from gankit.config import Config
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.options import Options  # declared apart, torch-free, for the CLI's flags
from gankit.presets import get_preset
from gankit.reproduce import measure, report
from gankit.reproduce.catalog import Document, Experiment, check_scale
from gankit.run import Run, is_run

MANIFEST, MANIFEST_FORMAT = "reproduction.json", "gankit-reproduction"
FID_N_FLOOR = 1_000  # below this many images FID's bias swamps the differences it shows
FOLDERS = {  # image-folder data: (option, what to give)
    "flowers": ("--flowers", "the 8,189 Oxford-102 flower images (jpg/ of 102flowers.tgz)"),
    "art": ("--art", "the 2,782 abstract paintings of seed 002"),
}


@dataclasses.dataclass
class Outcome:
    """What one experiment came to: skipped, pending, or its steps and measurements."""

    exp: Experiment
    skipped: str = ""  # why it did not run (missing data), one line
    scaled: list[float] = dataclasses.field(default_factory=list)  # points x scale, in its unit
    steps: list[int] = dataclasses.field(default_factory=list)  # the step of each point
    fids: dict[int, dict] = dataclasses.field(default_factory=dict)  # step -> fid_at's record
    protocol: measure.FidProtocol | None = None
    dataset: str = ""
    classes: dict | None = None  # seed 001's classifier figures
    sample: str = ""  # the last sample grid, relative to OUT
    seconds_per_epoch: float | None = None


def fid_n(doc_n: int, opts: Options) -> int:
    """Generated images per FID: --fid-n, else the document's N x scale within [floor, N]."""
    if opts.fid_n:
        if opts.fid_n < 2:
            raise GankitError(
                f"--fid-n must be at least 2 (a covariance needs two), got {opts.fid_n}"
            )
        return opts.fid_n
    return min(doc_n, max(FID_N_FLOOR, round(doc_n * opts.scale)))


def default_out(name: str, scale: float) -> Path:
    return Path("reproductions") / (name if scale == 1 else f"{name}-x{scale:g}")


def open_output(out: Path, name: str, scale: float) -> Path:
    """Creates ``out`` for document ``name`` or checks an earlier one is the same reproduction."""
    manifest = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise GankitError(f"{out} is a file - give a folder for --out")
    if manifest.is_file():
        try:
            known = json.loads(manifest.read_text())
        except (OSError, ValueError):
            known = {}
        if (known.get("document"), known.get("scale")) != (name, scale):
            raise GankitError(
                f"{out} holds a reproduction of {known.get('document')} at --scale "
                f"{known.get('scale')} - use those, or another --out"
            )
        return out
    # A crash while writing the manifest leaves only its temporary file: still a new folder.
    if out.is_dir() and any(not durable.is_leftover(p.name) for p in out.iterdir()):
        raise GankitError(f"{out} is not empty and holds no {MANIFEST} - pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    body = {"format": MANIFEST_FORMAT, "document": name, "scale": scale, "created": now()}
    report.atomic_write(manifest, json.dumps(body, indent=1) + "\n")
    return out


def reproduce(doc: Document, opts: Options, say: Callable[[str], None] = print) -> Path:
    """Trains and evaluates ``doc``'s experiments into the output folder; returns REPORT.md.

    Raises:
        GankitError: a bad option, a foreign output folder, or a training that failed.
        gankit.training.Interrupted: a signal stopped a training (its checkpoint is saved).
    """
    check_scale(opts.scale)
    if opts.trials or opts.objectives or opts.reruns:
        raise GankitError(
            "--trials, --objectives and --reruns are for lucic-fashion only - drop them"
        )
    chosen = chosen_experiments(doc, opts.only)
    n = fid_n(doc.fid_n, opts)
    device = training.pick_device(opts.device)
    out = open_output(opts.out or default_out(doc.name, opts.scale), doc.name, opts.scale)
    say(
        f"{doc.name}: {len(doc.experiments)} experiments, --scale {opts.scale:g}, FID from "
        f"{n:,} images, into {out}"
    )
    outcomes = [Outcome(exp) for exp in doc.experiments]
    available: dict[str, tuple[int, str]] = {}  # data -> (train images, why missing)
    for i, exp in enumerate(doc.experiments):
        say(f"{exp.key} ({exp.row}, {exp.table}):")
        if exp.key not in chosen:
            say(f"  skipped: {NOT_CHOSEN}")
            outcomes[i] = Outcome(exp, skipped=NOT_CHOSEN)
        else:
            outcomes[i] = _experiment(doc, exp, opts, out, device, n, available, say)
        report.write_report(doc, outcomes, _settings(opts, device, n), out)
    say(f"wrote {out / report.REPORT_MD} and {out / report.REPORT_HTML}")
    return out / report.REPORT_MD


NOT_CHOSEN = "not chosen (--only)"


def chosen_experiments(doc: Document, only: str) -> set[str]:
    """The experiment keys ``--only`` names (every one when empty), or a one-line error."""
    keys = [exp.key for exp in doc.experiments]
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in keys]
    if unknown:
        raise GankitError(
            f"--only: {doc.name} has no experiment {', '.join(map(repr, unknown))} "
            f"(it has {', '.join(keys)})"
        )
    return set(names or keys)


def _settings(opts: Options, device, n: int) -> dict:
    return {
        "scale": opts.scale,
        "fid_n": n,
        "fid_n_floor": FID_N_FLOOR,
        "fid_n_given": bool(opts.fid_n),
        "device": measure.device_name(device),
        "written": now(),
    }


def experiment_config(exp: Experiment, opts: Options) -> Config | str:
    """The preset's config with the user's data and device, or why its data is missing."""
    cfg = get_preset(exp.preset)
    if exp.data in FOLDERS:
        folder = getattr(opts, exp.data)
        flag, what = FOLDERS[exp.data]
        if not folder:
            return f"{exp.data} images not given - pass {flag} DIR, a folder of {what}"
        data = dataclasses.replace(cfg.data, dataset=folder)
    else:
        data = dataclasses.replace(cfg.data, data_dir=opts.data_dir)
    train = dataclasses.replace(cfg.train, device=opts.device)
    return dataclasses.replace(cfg, data=data, train=train)


def _experiment(doc, exp, opts, out, device, n, available, say) -> Outcome:
    cfg = experiment_config(exp, opts)
    if isinstance(cfg, str):
        say(f"  skipped: {cfg}")
        return Outcome(exp, skipped=cfg)
    if exp.data not in available:
        try:  # the data layer's own message says how to provide what is missing
            available[exp.data] = (len(load_dataset(cfg.data).images), "")
        except GankitError as e:
            available[exp.data] = (0, str(e))
    n_images, missing = available[exp.data]
    if missing:
        say(f"  skipped: {missing}")
        return Outcome(exp, skipped=missing)
    scaled = [_scaled(p.at, exp.unit, opts.scale) for p in exp.points]
    steps = [_target_step(cfg, exp.unit, value, n_images) for value in scaled]
    outcome = Outcome(exp, scaled=scaled, steps=steps)
    run = Run(out / exp.key)
    for value, step in zip(scaled, steps):
        _train_to(run, cfg, exp.unit, value, step, opts, say)
        _measure_fid(outcome, run, step, n, device, say)
    last = steps[-1]
    record = outcome.fids[last]
    if exp.unit == "epochs" and record.get("elapsed_seconds") and record.get("epoch"):
        outcome.seconds_per_epoch = record["elapsed_seconds"] / record["epoch"]
    if doc.class_checks:
        data = run.config().data
        protocol = {"n": n, "scale": opts.scale, "histogram_n": measure.HISTOGRAM_N}
        outcome.classes, _ = measure.EvalStore(run).get_or_compute(
            "classes",
            last,
            protocol,
            lambda: measure.class_checks(run, last, data, n, opts.scale, device, say),
        )
    sample = run.sample_path(last)
    outcome.sample = str(sample.relative_to(out)) if sample.is_file() else ""
    return outcome


def _measure_fid(outcome: Outcome, run: Run, step: int, n: int, device, say) -> None:
    """FID of checkpoint ``step`` into ``outcome``: read back from the run's store, or measured."""
    data = run.config().data
    outcome.dataset = data.dataset
    proto = outcome.protocol = measure.fid_protocol(data, n)
    store = measure.EvalStore(run)
    outcome.fids[step], cached = store.get_or_compute(
        "fid",
        step,
        dataclasses.asdict(proto),
        lambda: measure.fid_at(run, step, data, proto, device, say),
    )
    if cached:
        say(f"  FID at step {step:,}: {outcome.fids[step]['fid']:.2f} (read back)")


def _scaled(at: float, unit: str, scale: float) -> float:
    """A point times --scale: fractional epochs are fine, steps are whole and at least 1."""
    return at * scale if unit == "epochs" else float(max(1, round(at * scale)))


def _target_step(cfg: Config, unit: str, value: float, n_images: int) -> int:
    """The generator step training stops at for ``value`` epochs or steps (as training counts)."""
    if unit == "steps":
        return int(value)
    return training.total_steps(dataclasses.replace(cfg.train, steps=0, epochs=value), n_images)


def _train_to(run: Run, cfg: Config, unit: str, value: float, step: int, opts, say) -> None:
    """Makes sure ``run`` has a checkpoint at ``step``: trains, resumes, or does nothing."""
    done = run.checkpoint_steps()
    if step in done:
        return
    if done and done[-1] > step:
        raise GankitError(
            f"{run.path} is already at step {done[-1]:,}, past this point (step {step:,}) - "
            "reproduce into another --out"
        )
    schedule = {"epochs": value, "steps": 0} if unit == "epochs" else {"steps": int(value)}
    what = f"{value:g} epochs" if unit == "epochs" else f"{int(value):,} steps"
    if done:
        say(f"  resuming at step {done[-1]:,}, to step {step:,} ({what}) ...")
        resumed = config_io.override(run.config(), {**schedule, "device": cfg.train.device})
        result = training.resume(run, resumed, progress=opts.progress)
    else:
        _clear_unstarted(run.path)
        say(f"  training to step {step:,} ({what}) ...")
        result = training.train(config_io.override(cfg, schedule), run.path, progress=opts.progress)
    if step not in run.checkpoint_steps():
        raise GankitError(
            f"{run.path} stopped at step {result.step:,} ({result.stopped}) before step {step:,} "
            "- run the same command again to continue"
        )


def _clear_unstarted(path: Path) -> None:
    """Removes a run folder with a config but no checkpoint yet: nothing in it to keep."""
    if not path.exists():
        return
    if path.is_dir() and (is_run(path) or not any(path.iterdir())):
        shutil.rmtree(path)
        return
    raise GankitError(f"{path} is in the way and is not a gankit run - move it and run again")


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
