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
from gankit.metrics import report as blocks_io
from gankit.presets import get_preset
from gankit.reproduce import measure
from gankit.reproduce.catalog import (
    LUCIC_EPOCHS,
    LUCIC_NAME,
    LUCIC_OBJECTIVES,
    LUCIC_PROTOCOL,
    LUCIC_TITLE,
    LUCIC_TRIALS,
    Objective,
    check_scale,
    lucic_space,
)
from gankit.reproduce.report import LEGEND, NONE, REPORT_HTML, REPORT_MD, atomic_write
from gankit.reproduce.runner import Options, default_out, fid_n, now, open_output
from gankit.run import Run

IMPLEMENTED = tuple(o.loss for o in LUCIC_OBJECTIVES if not o.missing)


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
    chosen = chosen_objectives(opts.objectives)
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
        say(f"{obj.row} ({obj.loss}): {trials} trials in {out / obj.loss}")
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
    row.fid, row.protocol = _final_fid(Run(result.best_run), n, device, say)
    return row


def _drop_training_states(study_dir: Path) -> None:
    """Deletes the full training states of finished trials (their generators stay)."""
    from gankit.tune.trial import trial_runs

    for run in trial_runs(study_dir):
        drop_training_states(run)


def _final_fid(run: Run, n: int, device, say) -> tuple[dict, measure.FidProtocol]:
    """The FID of the run's last checkpoint at N = ``n``: the study's own, else measured."""
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
    say(f"  best trial {run.path.name}: FID {value['fid']:.2f} at its last step ({step:,})")
    return value | {"step": step}, proto


# --- the report ---


def write_report(results: list[Result], settings: dict, out: Path) -> None:
    blocks = report_blocks(results, settings, out)
    atomic_write(out / REPORT_MD, blocks_io.to_markdown(blocks))
    atomic_write(
        out / REPORT_HTML, blocks_io.to_html(blocks, out, "gankit reproduction of Lucic et al.")
    )


def report_blocks(results: list[Result], settings: dict, out: Path) -> list:
    scale, trials = settings["scale"], settings["trials"]
    head = (
        f"gankit reproduce {LUCIC_NAME} --scale {scale:g} --trials {trials}, on "
        f"{settings['device']}; written {settings['written']}. {LEGEND}"
    )
    blocks: list = [("h1", f"Reproduction of {LUCIC_TITLE}"), ("p", head)]
    if scale != 1:
        epochs = LUCIC_EPOCHS * scale
        note = f"--scale {scale:g}: every trial trained {epochs:g} epochs instead of {LUCIC_EPOCHS}"
        blocks.append(("p", note + ", so gankit's FIDs are not expected to match the paper's."))
    blocks += [("h2", "Protocol"), ("ul", _protocol_items(results, settings))]
    header = ["objective", "best FID", "trials (complete / pruned / failed)", "best settings"]
    blocks += [("h2", "Best FID per objective on Fashion-MNIST"), ("table", header, _rows(results))]
    notes = [f"{r.objective.row}: {r.skipped}." for r in results if r.skipped]
    if notes:
        blocks += [("h2", "Not run"), ("ul", notes)]
    studies = [f"{r.objective.row}: {r.study / 'study.md'}" for r in results if r.study]
    if studies:
        blocks += [("h2", "Studies (every trial, its settings and value)"), ("ul", studies)]
    for r in results:
        sample = _last_sample(r, out)
        if sample:
            caption = f"{r.objective.row}: best trial {r.best_run.name}, last step"
            blocks.append(("img", sample, caption))
    return blocks


def _protocol_items(results: list[Result], settings: dict) -> list[str]:
    n, scale = settings["fid_n"], settings["scale"]
    items = [f"The paper: {LUCIC_PROTOCOL}."]
    proto = next((r.protocol for r in results if r.protocol), None)
    if proto is not None:
        items.append(f"gankit: {proto.describe('fashion-mnist')}, grey repeated to 3 channels.")
    if n != 10_000:
        how = "given by --fid-n" if settings.get("fid_n_given") else f"10,000 x --scale {scale:g}"
        items.append(
            f"N = {n:,} images per side ({how}, at least 1,000 unless given): FID is biased "
            "upwards at small N, so these are not comparable with N = 10,000."
        )
    items += [
        (
            f"gankit: {settings['trials']} trials per objective (the paper: {LUCIC_TRIALS}), "
            "chosen by gankit tune's Optuna TPE sampler where the paper drew them at random, "
            "over the paper's range; learning rate and beta1 are searched for G and D "
            "separately (the paper shares one of each); Adam's beta2 stays 0.999."
        ),
        (
            "Each trial is evaluated once, at its last step, and nothing is pruned; an "
            "objective's number is its best trial's FID there - the paper's statistic."
        ),
        "G ends in tanh on [-1, 1] data (the paper: a sigmoid on [0, 1]).",
    ]
    return items


def _rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        paper = NONE if r.objective.paper_fid is None else f"{r.objective.paper_fid:g}"
        if r.objective.missing:
            ours = "not implemented"
        elif r.fid is not None:
            ours = f"{r.fid['fid']:.1f}"
        else:
            ours = "skipped" if r.skipped else "pending"
        counts = " / ".join(map(str, r.counts)) if r.study else ""
        params = ", ".join(f"{k} {_short(v)}" for k, v in r.best_params.items())
        rows.append([r.objective.row, f"{paper} / {ours}", counts, params])
    return rows


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _last_sample(r: Result, out: Path) -> str:
    if r.best_run is None or r.fid is None:
        return ""
    sample = Run(r.best_run).sample_path(r.fid["step"])
    return str(sample.relative_to(out)) if sample.is_file() else ""
