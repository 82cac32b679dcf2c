"""``gankit reproduce lucic-fashion``: the Fashion-MNIST column of Lucic et al. (2018),
"Are GANs Created Equal? A Large-Scale Study" - for each objective gankit has, a
``gankit tune`` study over the paper's wide range, its best trial's FID beside the
paper's best FID.

Owns the studies' base configs and the report. Each objective is one study folder
(``OUT/<loss>/``, an ordinary ``gankit tune`` study of ordinary run folders); a
trial is the objective's ``lucic-fashion-<loss>`` preset with the searched settings,
trained for the paper's 20 epochs (x --scale) and evaluated once, at its end, by
Inception FID against the test split - the paper's protocol, so no trial is pruned.
The study's best trial is then the paper's "best FID" statistic; its final
checkpoint's FID is stored in that run (``measure.EvalStore``) and read back on a
re-run. Trials are added one at a time, each finished trial keeping only its
generator (a full training state of these networks is ~180 MB and no finished
trial is ever resumed), so a 100-trial study fits on an ordinary disk.

The paper's "FID ± sd" is the spread over reruns of the best setting, not the best of
a search: with ``--reruns K`` the best trial's config is trained again from scratch
with its seed + 1 .. K (``STUDY/reruns/<trial>/seed-S``, ordinary run folders) for
the same schedule, and each is scored as the trial was. A rerun that is trained and
scored is read back on a re-run, one that was interrupted resumes from its
checkpoint. The report is ``lucic_report``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from gankit import config as config_io
from gankit import training
from gankit.checkpoint import drop_training_states
from gankit.config import Config
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.presets import get_preset
from gankit.reproduce import measure
from gankit.reproduce.catalog import (
    LUCIC_EPOCHS,
    LUCIC_NAME,
    LUCIC_OBJECTIVES,
    LUCIC_TRIALS,
    Objective,
    check_scale,
    lucic_space,
)
from gankit.reproduce.lucic_report import write_report
from gankit.reproduce.report import REPORT_HTML, REPORT_MD
from gankit.reproduce.runner import Options, _train_to, default_out, fid_n, now, open_output
from gankit.run import Run

IMPLEMENTED = tuple(o.loss for o in LUCIC_OBJECTIVES if not o.missing)
MAX_RERUNS = 100  # more is a typo: each rerun costs as much as a trial
RERUNS_DIR = "reruns"


@dataclasses.dataclass(frozen=True)
class Rerun:
    """The best setting trained again with another seed: its run folder and its FID."""

    seed: int
    run: Path
    fid: float


@dataclasses.dataclass
class Result:
    """One objective's row: not run, or its study's counts, best trial and final FID."""

    objective: Objective
    skipped: str = ""
    study: Path | None = None
    counts: tuple[int, int, int] = (0, 0, 0)  # complete, pruned, failed
    best_params: dict = dataclasses.field(default_factory=dict)
    best_run: Path | None = None
    fid: dict | None = None  # the final checkpoint's measurement
    protocol: measure.FidProtocol | None = None
    reruns: list[Rerun] = dataclasses.field(default_factory=list)  # by seed


def check_reruns(reruns: int) -> None:
    """``--reruns K`` is a whole number of reruns in [0, ``MAX_RERUNS``]."""
    if isinstance(reruns, bool) or not isinstance(reruns, int) or not 0 <= reruns <= MAX_RERUNS:
        raise GankitError(
            f"--reruns must be a number of reruns from 0 to {MAX_RERUNS}, got {reruns!r} "
            "- e.g. --reruns 5"
        )


def chosen_objectives(names: str) -> tuple[str, ...]:
    """``--objectives a,b`` checked against the objectives gankit has (empty: all)."""
    if not names:
        return IMPLEMENTED
    chosen = tuple(n.strip() for n in names.split(",") if n.strip())
    unknown = [n for n in chosen if n not in IMPLEMENTED]
    if unknown:
        raise GankitError(
            f"--objectives: {unknown[0]!r} is not one gankit can search "
            f"(valid: {', '.join(IMPLEMENTED)}) - BEGAN is not implemented"
        )
    return chosen


def base_config(loss: str, opts: Options, n: int, n_images: int) -> Config:
    """The objective's preset at --scale, evaluated once at the end at N = ``n`` images."""
    cfg = get_preset(f"lucic-fashion-{loss}")
    epochs = LUCIC_EPOCHS * opts.scale
    # The longest trial (1 D step) ends before step eval_every, so the trial's only
    # evaluation is the one tune makes of the last checkpoint: the paper's protocol.
    longest = training.total_steps(
        dataclasses.replace(cfg.train, epochs=epochs, steps=0, n_critic=1), n_images
    )
    return config_io.override(
        cfg,
        {
            "epochs": epochs,
            "device": opts.device,
            "data_dir": opts.data_dir,
            "eval_samples": n,
            "eval_every": longest + 1,
            "sample_every": 0,  # one grid and one checkpoint, at the end
            "checkpoint_every": 0,
        },
    )


def reproduce_lucic(opts: Options, say: Callable[[str], None] = print) -> Path:
    """Runs (or continues) every chosen objective's study; writes the report; returns it."""
    check_scale(opts.scale)
    if opts.flowers or opts.art:
        raise GankitError(f"{LUCIC_NAME} trains on Fashion-MNIST only - drop --flowers/--art")
    if opts.only:
        raise GankitError(f"{LUCIC_NAME} chooses with --objectives, not --only - use that")
    chosen = chosen_objectives(opts.objectives)
    check_reruns(opts.reruns)
    trials = opts.trials or LUCIC_TRIALS
    if trials < 1:
        raise GankitError(f"--trials must be at least 1, got {trials}")
    n = fid_n(10_000, opts)
    device = training.pick_device(opts.device)
    out = open_output(opts.out or default_out(LUCIC_NAME, opts.scale), LUCIC_NAME, opts.scale)
    settings = {
        "scale": opts.scale,
        "fid_n": n,
        "fid_n_given": bool(opts.fid_n),
        "trials": trials,
        "reruns": opts.reruns,
        "device": measure.device_name(device),
        "written": now(),
    }
    results = [
        Result(o, skipped=o.missing or "not chosen (--objectives)") for o in LUCIC_OBJECTIVES
    ]
    missing, n_images = _fashion_mnist(opts)
    for i, obj in enumerate(LUCIC_OBJECTIVES):
        if obj.loss not in chosen:
            continue
        if missing:
            say(f"{obj.row}: skipped - {missing}")
            results[i] = Result(obj, skipped=missing)
            continue
        then = f", then {opts.reruns} reruns of the best" if opts.reruns else ""
        say(f"{obj.row} ({obj.loss}): {trials} trials{then} in {out / obj.loss}")
        results[i] = _study(obj, opts, out, n, n_images, trials, device, say)
        write_report(results, settings, out)
    write_report(results, settings, out)
    say(f"wrote {out / REPORT_MD} and {out / REPORT_HTML}")
    return out / REPORT_MD


def _fashion_mnist(opts: Options) -> tuple[str, int]:
    """(why Fashion-MNIST is missing, or "", its train images)."""
    data = dataclasses.replace(get_preset("lucic-fashion-ns").data, data_dir=opts.data_dir)
    try:
        return "", len(load_dataset(data).images)
    except GankitError as e:  # the data layer's own line says how to provide it
        return str(e), 0


def _study(obj, opts, out: Path, n: int, n_images: int, trials: int, device, say) -> Result:
    from gankit.tune import run_study

    base = base_config(obj.loss, opts, n, n_images)
    study_dir = out / obj.loss
    result = None
    for k in range(1, trials + 1):  # one trial at a time, pruning training states between
        if result is not None and sum((result.n_complete, result.n_pruned, result.n_failed)) >= k:
            continue
        result = run_study(
            base,
            study_dir=study_dir,
            trials=k,
            space=lucic_space(obj.loss),
            objective="fid",
            say=say,
        )
        _drop_training_states(study_dir)
    counts = (result.n_complete, result.n_pruned, result.n_failed)
    row = Result(obj, study=study_dir, counts=counts, best_params=dict(result.best_params))
    if result.best_run is None:
        row.skipped = "no trial completed"
        return row
    row.best_run = result.best_run
    best = Run(result.best_run)
    row.fid, row.protocol = _final_fid(best, n, device, say, f"best trial {best.path.name}")
    if opts.reruns:
        row.reruns = _reruns(best, study_dir, opts, n, n_images, device, say)
    return row


def _reruns(best: Run, study_dir: Path, opts, n: int, n_images: int, device, say) -> list[Rerun]:
    """The best trial's config trained again with its seed + 1 .. K, each scored like it."""
    trial = best.config()
    folder = study_dir / RERUNS_DIR / best.path.name  # another best trial: other reruns
    reruns = []
    for seed in range(trial.train.seed + 1, trial.train.seed + opts.reruns + 1):
        run = Run(folder / f"seed-{seed}")
        cfg = config_io.override(trial, {"seed": seed, "device": opts.device})
        # The trial's own schedule: a rerun differs from the trial in its seed alone.
        step = training.total_steps(cfg.train, n_images)
        if step not in run.checkpoint_steps():
            say(f"  rerun of trial {best.path.name} with seed {seed}: {run.path}")
        _train_to(run, cfg, "epochs", cfg.train.epochs, step, opts, say)
        drop_training_states(run)  # as for the trials: nothing resumes a finished rerun
        fid, _ = _final_fid(run, n, device, say, f"rerun seed {seed}")
        reruns.append(Rerun(seed, run.path, fid["fid"]))
    return reruns


def _drop_training_states(study_dir: Path) -> None:
    """Deletes the full training states of finished trials (their generators stay)."""
    from gankit.tune.trial import trial_runs

    for run in trial_runs(study_dir):
        drop_training_states(run)


def _final_fid(run: Run, n: int, device, say, label: str) -> tuple[dict, measure.FidProtocol]:
    """The FID of the run's last checkpoint at N = ``n``: the study's own, else measured.

    Kept in the run's ``reproduce.json`` (``measure.EvalStore``) and read back next time;
    ``label`` names the run in the line said.
    """
    step = run.checkpoint_steps()[-1]
    data = run.config().data
    proto = measure.fid_protocol(data, n)

    def compute() -> dict:
        known = run.best() or {}
        if known.get("step") == step and "fid" in known:
            # tune evaluated exactly this checkpoint under exactly this protocol.
            return {"fid": known["fid"], "source": "the study's evaluation of it"}
        return measure.fid_at(run, step, data, proto, device, say) | {"source": "measured"}

    value, _ = measure.EvalStore(run).get_or_compute(
        "fid", step, dataclasses.asdict(proto), compute
    )
    say(f"  {label}: FID {value['fid']:.2f} at its last step ({step:,})")
    return value | {"step": step}, proto
