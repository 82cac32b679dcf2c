"""The files a study leaves: study.md, a self-contained study.html, plots and best.yaml.

Owns what a reader of a study sees, not how the numbers were obtained: the
trials table (number, state, value, minutes, how it stopped, run folder,
parameters), the optimisation history and the parameter importance as PNGs
(rendered with ``gankit.metrics.report``'s blocks, so the HTML embeds them),
and ``best.yaml``, the best trial's complete config, which ``gankit train
--config`` takes as it is. Written again after every `gankit tune` command, from the storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from gankit import config as config_io
from gankit import durable
from gankit.errors import GankitError
from gankit.metrics.classes import new_figure, save_figure
from gankit.metrics.report import to_html, to_markdown
from gankit.run import Run, is_run
from gankit.tune.space import Space
from gankit.tune.storage import quiet

REPORT, HTML, BEST = "study.md", "study.html", "best.yaml"
HISTORY, IMPORTANCE = "history.png", "importance.png"
MIN_IMPORTANCE = 4  # complete trials before parameter importance means anything


@dataclass(frozen=True)
class StudyInfo:
    """What the report says about the study besides its trials."""

    name: str
    folder: str  # the study folder as the user gave it, for commands in the report
    objective: str
    about: str  # the objective's description, with N and the split
    base: str  # the preset (or config) the trials start from
    space: Space
    space_from: str  # "the default space for dcgan, hinge, adam" or the file
    budget: str  # the per-trial schedule: steps and time budget
    storage: str  # masked URL


def best_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The complete trial with the lowest finite value (the earliest on ties)."""
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
    ]
    return min(done, key=lambda t: (t.value, t.number), default=None)


def write_best(study_dir: Path, best: FrozenTrial | None) -> Path | None:
    """``best.yaml``: the best trial's complete config (from its run folder)."""
    if not _has_run(study_dir, best):  # none yet, or its folder was removed
        return None
    path = study_dir / BEST
    try:
        config_io.save(Run(study_dir / best.user_attrs["run"]).config(), path)
    except OSError as e:
        raise _disk_error(path, e) from None
    return path


def _has_run(study_dir: Path, trial: FrozenTrial | None) -> bool:
    return trial is not None and is_run(study_dir / trial.user_attrs.get("run", ""))


def write_report(study: optuna.Study, study_dir: Path, info: StudyInfo) -> Path:
    """Writes study.md, study.html and their pictures into ``study_dir``; returns study.md."""
    trials = study.get_trials(deepcopy=False)
    best = best_trial(trials)
    blocks = _summary(trials, best, info, _has_run(study_dir, best))
    blocks += [("h2", "Trials"), ("table", *_table(trials, info))]
    if any(_value(t) is not None for t in trials):
        _plot_history(trials, study_dir / HISTORY, info.objective)
        blocks += [("h2", "Optimisation history"), ("img", HISTORY, _history_caption(info))]
    blocks.append(("h2", "Parameter importance"))
    importance, why_not = _importance(study, trials)
    if importance:
        _plot_importance(importance, study_dir / IMPORTANCE)
        caption = "PED-ANOVA importance: how much each parameter decides whether a trial is among the best"
        blocks.append(("img", IMPORTANCE, caption))
    else:
        blocks.append(("p", why_not))
    blocks += [("h2", "Search space"), ("p", f"From {info.space_from}.")]
    blocks.append(
        (
            "table",
            ["parameter", "distribution"],
            [[p.name, p.describe()] for p in info.space.values()],
        )
    )
    path = study_dir / REPORT
    _write_text(path, to_markdown(blocks))
    _write_text(study_dir / HTML, to_html(blocks, study_dir, f"gankit study {info.name}"))
    return path


VALUE_RULE = (
    "a trial's value: the lowest objective over its evaluations, which is the checkpoint its "
    "run marks best; a pruned trial shows its last evaluation"
)
SEARCH_RULE = (
    "search: Optuna's TPE sampler; median pruner (a trial whose best value so far is worse "
    "than the median of the complete trials at the same evaluation stops there)"
)


TRAIN_HINT = (
    "the trial's complete config; gankit train --config with it trains it again (add "
    "--max-minutes 0 and more --steps to train it for longer)"
)


def _summary(
    trials: list[FrozenTrial], best: FrozenTrial | None, info: StudyInfo, has_run: bool
) -> list:
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    states = ", ".join(f"{n} {s.name.lower()}" for s, n in counts.items() if n)
    about = [
        f"base: {info.base}; each trial is a run folder in trials/",
        f"objective: {info.objective} - {info.about}",
        VALUE_RULE,
        f"schedule per trial: {info.budget}",
        SEARCH_RULE,
        f"trials: {states or 'none yet'}; storage {info.storage}",
    ]
    blocks = [("h1", f"gankit study {info.name}"), ("ul", about), ("h2", "Best trial")]
    if best is None:
        return blocks + [("p", "No trial has completed yet.")]
    params = ", ".join(f"{k} = {_cell(v)}" for k, v in best.params.items())
    run = f"{info.folder}/{best.user_attrs.get('run', '?')}"
    step = best.user_attrs.get("best_step", "?")
    value = f"trial {best.number}: {info.objective} {best.value:.4g} at step {step}"
    if not has_run:
        return blocks + [("ul", [value, f"parameters: {params}", f"its run folder {run} is gone"])]
    return blocks + [
        (
            "ul",
            [
                f"{value} (measured as above, on the same images as every trial)",
                f"parameters: {params}",
                f"run: {run} (its best checkpoint: gankit evaluate {run} --checkpoint best)",
                f"config: {info.folder}/{BEST} - {TRAIN_HINT}",
            ],
        ),
    ]


def _table(trials: list[FrozenTrial], info: StudyInfo) -> tuple[list, list]:
    names = list(info.space)
    header = ["trial", "state", info.objective, "minutes", "stopped", "run", *names]
    # A retry's history ends with the trial it repeats.
    retried_as = {
        t.system_attrs["retry_history"][-1]: t.number
        for t in trials
        if t.system_attrs.get("retry_history")
    }
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        value = _value(t)
        minutes = (
            f"{(t.datetime_complete - t.datetime_start).total_seconds() / 60:.2f}"
            if t.datetime_complete and t.datetime_start
            else ""
        )
        stopped = str(t.user_attrs.get("stop", ""))
        if t.state == TrialState.WAITING and "failed_trial" in t.system_attrs:
            stopped = f"queued: retry of trial {t.system_attrs['failed_trial']}"
        elif t.state == TrialState.FAIL and not stopped.startswith("error"):
            again = retried_as.get(t.number)
            stopped = "interrupted" + (f"; run again as trial {again}" if again is not None else "")
        cells = [t.number, t.state.name.lower(), "" if value is None else f"{value:.4g}"]
        cells += [minutes, stopped, t.user_attrs.get("run", "")]
        rows.append(cells + [_cell(t.params.get(n, "")) for n in names])
    return header, rows


def _value(t: FrozenTrial) -> float | None:
    v = t.value if t.state in (TrialState.COMPLETE, TrialState.PRUNED) else None
    return v if v is not None and math.isfinite(v) else None


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _history_caption(info: StudyInfo) -> str:
    return (
        f"{info.objective} per trial (dots: complete, crosses: pruned at their last "
        "evaluation) and the best so far (line); lower is better"
    )


def _plot_history(trials: list[FrozenTrial], path: Path, objective: str) -> None:
    fig = new_figure(7, 3.6)
    ax = fig.add_subplot()
    for state, style in ((TrialState.COMPLETE, "o"), (TrialState.PRUNED, "x")):
        points = [
            (t.number, _value(t)) for t in trials if t.state == state and _value(t) is not None
        ]
        if points:
            ax.plot(
                *zip(*points),
                style,
                label=state.name.lower(),
                color="C0" if style == "o" else "0.5",
            )
    done = sorted(
        (t.number, _value(t))
        for t in trials
        if t.state == TrialState.COMPLETE and _value(t) is not None
    )
    if done:
        best, line = math.inf, []
        for number, value in done:
            best = min(best, value)
            line.append((number, best))
        ax.step(*zip(*line), where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{objective} (lower is better)")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def _importance(study: optuna.Study, trials: list[FrozenTrial]) -> tuple[dict, str]:
    """({parameter: importance}, "") or ({}, why there is none)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(complete) < MIN_IMPORTANCE:
        return {}, (
            f"Not computed: parameter importance needs at least {MIN_IMPORTANCE} complete "
            f"trials, and this study has {len(complete)} - run more trials."
        )
    evaluator = getattr(optuna.importance, "PedAnovaImportanceEvaluator", None)
    if evaluator is None:
        return {}, "Not computed: this Optuna has no PED-ANOVA evaluator (it needs 3.6 or later)."
    try:
        with quiet():
            importance = optuna.importance.get_param_importances(study, evaluator=evaluator())
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return {}, f"Not computed: {str(e).splitlines()[0] if str(e) else type(e).__name__}."
    if not importance:
        return {}, "Not computed: no parameter varied between the complete trials."
    return dict(importance), ""


def _plot_importance(importance: dict[str, float], path: Path) -> None:
    names = list(importance)[::-1]  # most important on top
    fig = new_figure(6, 0.4 * len(names) + 1.2)
    ax = fig.add_subplot()
    ax.barh(names, [importance[n] for n in names], color="C0")
    ax.set_xlabel("importance (PED-ANOVA)")
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)


def _write_text(path: Path, text: str) -> None:
    try:
        durable.write_file(path, text, fault="tune.trial")
    except OSError as e:
        raise _disk_error(path, e) from None


def _disk_error(path: Path, e: OSError) -> GankitError:
    """A failed write as one line: the trials are safe in the storage, the report is redone."""
    return GankitError(
        f"cannot write {path}: {durable.describe(e)} - free space and run the same command again"
    )
