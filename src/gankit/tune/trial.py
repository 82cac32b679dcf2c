"""One trial: a config from the suggested values, an ordinary run, a value for Optuna.

Owns the objective function a study optimises. A trial is a complete gankit
run in ``STUDY/trials/NNNN`` (inspect, evaluate, serve or resume it like any
other), trained by ``gankit.training.train`` with an evaluation every
``log.eval_every`` steps (when the base leaves it 0: ``EVALS_PER_TRIAL`` times
over the planned steps). Each evaluation is reported to Optuna at its index
(1, 2, ...), so trials of different lengths are compared at the same fraction
of their schedule; when the pruner says a trial is worse than the median, the
evaluation raises ``StopTraining``, which logs, checkpoints and ends the run.

The trial's value is the best objective over its evaluations (in the objective's
direction), which is also the checkpoint the run marks ``best``. A run cut short
by the time budget between two evaluations is evaluated once more at its last
checkpoint.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from torch import nn

from gankit import config as config_io
from gankit import training
from gankit.checkpoint import load_generator, mark_best
from gankit.config import Config
from gankit.errors import GankitError
from gankit.run import Run, is_run
from gankit.tune import objective as objectives
from gankit.tune.space import Space, suggest
from gankit.tune.storage import ERROR

EVALS_PER_TRIAL = 5  # evaluations over a trial's planned steps when log.eval_every is 0
TRIALS_DIR = "trials"


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a study shares (picklable: it travels to worker processes)."""

    study_dir: Path
    base: Config
    space: Space
    objective: str
    minutes_per_trial: float | None
    n_images: int  # real images in the dataset, for the planned steps of an epochs schedule


def run_folder(number: int) -> str:
    """A trial's run folder, relative to the study folder."""
    return f"{TRIALS_DIR}/{number:04d}"


def trial_runs(study_dir: Path) -> list[Run]:
    """The run folders of a study's trials, in trial order."""
    folder = study_dir / TRIALS_DIR
    if not folder.is_dir():
        return []
    return [Run(path) for path in sorted(folder.iterdir()) if is_run(path)]


def trial_config(setup: TrialSetup, values: dict) -> Config:
    """The base config with the trial's values, time budget and evaluation interval."""
    cfg = config_io.override(setup.base, values)
    if setup.minutes_per_trial:
        cfg.train.max_minutes = float(setup.minutes_per_trial)
    if not cfg.log.eval_every:
        planned = training.total_steps(cfg.train, setup.n_images)
        cfg.log.eval_every = max(1, planned // EVALS_PER_TRIAL)
    return cfg


def run_trial(trial: optuna.Trial, setup: TrialSetup, say) -> float:
    """The objective Optuna calls: trains one run and returns its best objective value."""
    values = suggest(trial, setup.space)
    rel = run_folder(trial.number)
    # Reset what a retried trial inherited from the one that died.
    for key, value in (("run", rel), ("stop", "running"), ("best_value", None)):
        trial.set_user_attr(key, value)
    shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
    say(f"trial {trial.number}: {shown} -> {setup.study_dir / rel}")
    judge = _Judge(trial, setup.objective)
    try:
        cfg = trial_config(setup, values)
        result = training.train(
            cfg, setup.study_dir / rel, progress=False, make_evaluate=judge.make_evaluate
        )
        if result.stopped.startswith("pruned"):
            trial.set_user_attr("stop", result.stopped)
            trial.set_user_attr("prune_reason", result.stopped.removeprefix("pruned: "))
            _finish(trial, judge, result.step)
            say(f"trial {trial.number}: {result.stopped}")
            raise optuna.TrialPruned(result.stopped)
        if judge.last_step != result.step:  # the time budget ended it between evaluations
            judge.final(result.run, result.step)
    except (GankitError, torch.cuda.OutOfMemoryError) as e:  # this trial's own failure, e.g. NaN
        what = str(e) if isinstance(e, GankitError) else "out of memory"
        trial.set_user_attr("stop", f"{ERROR}: {what}")
        say(f"trial {trial.number}: failed - {what}")
        return math.nan  # Optuna records it as failed and goes on
    except training.Interrupted:
        trial.set_user_attr("stop", "interrupted")
        raise
    _finish(trial, judge, result.step)
    trial.set_user_attr("stop", result.stopped)
    if judge.best is None:
        trial.set_user_attr("stop", f"{ERROR}: no evaluation gave a finite value")
        say(f"trial {trial.number}: failed - no finite {setup.objective}")
        return math.nan
    say(
        f"trial {trial.number}: {setup.objective} {judge.best:.4g} (best at step "
        f"{judge.best_step}; {result.stopped} at step {result.step})"
    )
    return judge.best


def _finish(trial: optuna.Trial, judge: _Judge, step: int) -> None:
    trial.set_user_attr("steps", step)
    trial.set_user_attr("best_value", judge.best)
    trial.set_user_attr("best_step", judge.best_step)


class _Judge:
    """The trial's in-training evaluation: the objective, reported to Optuna, pruning."""

    def __init__(self, trial: optuna.Trial, objective: str):
        self.trial, self.objective = trial, objective
        # The loop keeps the best checkpoint in the direction the study optimises.
        obj = objectives.OBJECTIVES.get(objective)
        self.higher_is_better = obj.direction == "maximize"
        self.metric = None
        self.device = None
        self.k = 0  # evaluations so far
        self.last_step = None
        self.best = self.best_step = None

    def make_evaluate(self, cfg: Config, device: torch.device) -> _Judge:
        """``make_evaluate`` for ``training.train``: called once the config is complete."""
        obj = objectives.OBJECTIVES.get(self.objective)
        self.metric, self.device = objectives.build(obj, cfg, device), device
        return self

    def __call__(self, G: nn.Module, step: int) -> dict[str, float]:
        """The loop's ``evaluate``: scores G, reports to Optuna, may prune the trial."""
        scores = self.metric(G, step)
        self.k += 1
        self.last_step = step
        value = self._record(scores, step)
        self.trial.report(value, self.k)
        if self.trial.should_prune():
            raise training.StopTraining(self._prune_reason(step), scores)
        return scores

    def final(self, run, step: int) -> None:
        """Evaluates the run's last checkpoint (off the evaluation grid; not reported)."""
        G, _, _ = load_generator(run, "latest", self.device)
        scores = self.metric(G, step)
        before = self.best
        self._record(scores, step)
        self.last_step = step
        if self.best != before:  # the last checkpoint is the best: say so in the run
            mark_best(run, step, scores)

    def _record(self, scores: dict[str, float], step: int) -> float:
        value = float(scores[self.objective])
        if math.isfinite(value) and (self.best is None or self._beats(value, self.best)):
            self.best, self.best_step = value, step
        return value

    def _beats(self, value: float, best: float) -> bool:
        return value > best if self.higher_is_better else value < best

    def _prune_reason(self, step: int) -> str:
        # The median MedianPruner compared with: complete trials at the same evaluation.
        done = self.trial.study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
        )
        there = [t.intermediate_values[self.k] for t in done if self.k in t.intermediate_values]
        median = statistics.median(there) if there else math.nan
        best = math.nan if self.best is None else self.best
        return (
            f"pruned: best {self.objective} {best:.4g} by step {step} (evaluation {self.k}) "
            f"is worse than the median {median:.4g} of {len(there)} complete trials there"
        )


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
