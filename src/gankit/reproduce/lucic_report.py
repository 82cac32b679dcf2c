"""The report of ``gankit reproduce lucic-fashion``: per objective gankit's FID beside the
Fashion-MNIST column of Lucic et al. (2018), Table 2, with the protocols side by side.

Owns REPORT.md and report.html of a Lucic reproduction and the statistic its main
column shows. The paper's "FID ± sd" is the spread over reruns of each model's best
hyper-parameter setting, so with ``--reruns K`` the main column is the mean ± sample
sd of the K reruns and the best trial of the search - the least of many noisy draws,
so biased low - stands in a column of its own. Without reruns the best trial's FID
is the only figure. It reads only the ``lucic.Result`` rows it is handed and renders
through ``gankit.metrics.report``'s blocks.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from gankit.metrics import report as blocks_io
from gankit.reproduce.catalog import (
    LUCIC_EPOCHS,
    LUCIC_NAME,
    LUCIC_PROTOCOL,
    LUCIC_TITLE,
    LUCIC_TRIALS,
)
from gankit.reproduce.report import LEGEND, NONE, REPORT_HTML, REPORT_MD, atomic_write
from gankit.run import Run

if TYPE_CHECKING:  # the rows' type; lucic imports this module to write its report
    from gankit.reproduce.lucic import Result

UNDEFINED_SD = "-"  # the sample sd of a single rerun
BEST_TRIAL_COLUMN = "best trial of the search (biased low)"


def rerun_statistic(fids: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1; None for one value) of the reruns' FIDs."""
    sd = statistics.stdev(fids) if len(fids) > 1 else None
    return statistics.fmean(fids), sd


def rerun_column(reruns: int) -> str:
    return f"FID mean ± sd over {reruns} reruns of the best setting"


def write_report(results: list[Result], settings: dict, out: Path) -> None:
    blocks = report_blocks(results, settings, out)
    atomic_write(out / REPORT_MD, blocks_io.to_markdown(blocks))
    atomic_write(
        out / REPORT_HTML, blocks_io.to_html(blocks, out, "gankit reproduction of Lucic et al.")
    )


def report_blocks(results: list[Result], settings: dict, out: Path) -> list:
    scale, trials, reruns = settings["scale"], settings["trials"], settings.get("reruns", 0)
    flags = f"--scale {scale:g} --trials {trials}" + (f" --reruns {reruns}" if reruns else "")
    head = (
        f"gankit reproduce {LUCIC_NAME} {flags}, on {settings['device']}; "
        f"written {settings['written']}. {LEGEND}"
    )
    if reruns:
        head += f" The {BEST_TRIAL_COLUMN!r} column holds gankit's number alone."
    blocks: list = [("h1", f"Reproduction of {LUCIC_TITLE}"), ("p", head)]
    if scale != 1:
        epochs = LUCIC_EPOCHS * scale
        note = f"--scale {scale:g}: every trial trained {epochs:g} epochs instead of {LUCIC_EPOCHS}"
        blocks.append(("p", note + ", so gankit's FIDs are not expected to match the paper's."))
    blocks += [("h2", "Protocol"), ("ul", _protocol_items(results, settings))]
    blocks += [("h2", "FID per objective on Fashion-MNIST"), ("table", *_table(results, reruns))]
    notes = [f"{r.objective.row}: {r.skipped}." for r in results if r.skipped]
    if notes:
        blocks += [("h2", "Not run"), ("ul", notes)]
    reran = [_rerun_item(r) for r in results if r.reruns]
    if reran:
        blocks += [("h2", "Reruns of the best setting (FID by seed)"), ("ul", reran)]
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
        _statistic_item(settings.get("reruns", 0)),
        "G ends in tanh on [-1, 1] data (the paper: a sigmoid on [0, 1]).",
    ]
    return items


def _statistic_item(reruns: int) -> str:
    """What the figures are: the paper's is a mean over reruns of the best setting."""
    evaluated = "Each trial is evaluated once, at its last step, and nothing is pruned. "
    if not reruns:
        return evaluated + (
            "An objective's number is its best trial's FID there; the paper's is the mean "
            "over reruns of its best setting, which the best of a search underestimates "
            "(--reruns K measures the paper's statistic)."
        )
    return evaluated + (
        f"The best trial's setting is then trained {reruns} more time{'s' * (reruns != 1)} "
        "from scratch for the same schedule, with the trial's seed + 1, + 2, ..., each "
        "scored like the trials; an objective's number is the mean ± sample sd (n - 1) of "
        f"those FIDs - the paper's statistic ({UNDEFINED_SD}: one rerun has no sd). The best "
        "trial's own FID is the least of many noisy draws, so it is biased low."
    )


def _table(results: list[Result], reruns: int) -> tuple[list[str], list[list[str]]]:
    counts = "trials (complete / pruned / failed)"
    if not reruns:
        header = ["objective", "best FID", counts, "best settings"]
    else:
        header = ["objective", rerun_column(reruns), BEST_TRIAL_COLUMN, counts, "best settings"]
    rows = []
    for r in results:
        paper = NONE if r.objective.paper_fid is None else f"{r.objective.paper_fid:g}"
        best = _best_trial_cell(r)
        tally = " / ".join(map(str, r.counts)) if r.study else ""
        params = ", ".join(f"{k} {_short(v)}" for k, v in r.best_params.items())
        if not reruns:
            rows.append([r.objective.row, f"{paper} / {best}", tally, params])
        else:
            main = _rerun_cell(r, reruns) if r.fid is not None else best
            extra = f"{r.fid['fid']:.1f}" if r.fid is not None else ""
            rows.append([r.objective.row, f"{paper} / {main}", extra, tally, params])
    return header, rows


def _best_trial_cell(r: Result) -> str:
    if r.objective.missing:
        return "not implemented"
    if r.fid is not None:
        return f"{r.fid['fid']:.1f}"
    return "skipped" if r.skipped else "pending"


def _rerun_cell(r: Result, reruns: int) -> str:
    if len(r.reruns) < reruns:
        return "pending"
    mean, sd = rerun_statistic([rerun.fid for rerun in r.reruns])
    return f"{mean:.1f} ± {UNDEFINED_SD if sd is None else f'{sd:.1f}'}"


def _rerun_item(r: Result) -> str:
    by_seed = ", ".join(f"seed {rerun.seed}: {rerun.fid:.2f}" for rerun in r.reruns)
    folder = r.reruns[0].run.parent
    return f"{r.objective.row}: trial {r.best_run.name}'s setting - {by_seed} (runs in {folder})"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _last_sample(r: Result, out: Path) -> str:
    if r.best_run is None or r.fid is None:
        return ""
    sample = Run(r.best_run).sample_path(r.fid["step"])
    return str(sample.relative_to(out)) if sample.is_file() else ""
