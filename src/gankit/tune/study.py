"""A study from start to report: check everything, then run trials until there are N.

Owns the study folder and the order of work. Every input is checked before
anything is created or touched (the space, the objective against the dataset,
the base against an existing study's, the storage), so a bad command leaves an
existing study exactly as it was. Then the objective's caches are warmed, trials
whose process died are queued again, the trials still missing are run (here or
in workers), and the report is written - also when the command is interrupted.

    STUDY/
      study.json    the study's identity: Optuna study name, storage, objective
      base.yaml     the config every trial starts from (before the searched fields)
      space.yaml    the space searched
      study.db      the trials (default storage; any Optuna URL with --storage)
      trials/NNNN/  one ordinary run folder per trial
      study.md, study.html, history.png, importance.png, best.yaml
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from gankit import config as config_io
from gankit import durable, training
from gankit.config import Config
from gankit.errors import GankitError
from gankit.training import pick_device
from gankit.tune import objective as objectives
from gankit.tune import report
from gankit.tune import storage as store
from gankit.tune.space import Space, check_compatible, family, load_space, space_yaml
from gankit.tune.trial import EVALS_PER_TRIAL, TrialSetup
from gankit.tune.workers import StudyLink, run_workers, split

STUDY_FILE, BASE_FILE, SPACE_FILE = "study.json", "base.yaml", "space.yaml"
FORMAT, VERSION = "gankit-study", 1
# Fields that may differ between runs of `gankit tune` on one study: they do not change what a trial is
# (how it is executed, and what is filled in from the data).
FREE = config_io.RUNTIME | config_io.DERIVED


@dataclass
class StudyResult:
    study_dir: Path
    objective: str
    direction: str
    best_value: float | None
    best_params: dict
    best_run: Path | None
    best_config: Path | None  # best.yaml
    n_complete: int
    n_pruned: int
    n_failed: int
    report: Path  # study.md


def run_study(
    base: Config,
    *,
    study_dir: Path,
    trials: int,
    space: dict | Path | None = None,
    objective: str | None = None,
    minutes_per_trial: float | None = None,
    storage: str | None = None,
    workers: int = 1,
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> StudyResult:
    """Runs the study in ``study_dir`` until it has ``trials`` finished trials.

    Finished means complete, pruned, or failed on its own (e.g. diverged); a trial
    whose process died is run again instead. Re-running the same call continues
    the study; a larger ``trials`` extends it.

    Args:
        base: the config every trial starts from (a preset or a loaded config).
        study_dir: the study folder (created; an existing study is continued).
        trials: finished trials the study should have.
        space: the search space: a mapping or YAML file (see ``gankit.tune.space``);
            None = the default space of the base's family.
        objective: ``classifier_fid`` (labelled data; the default there) or ``fid``
            (Inception FID against the test split; the default otherwise), both at
            N = ``log.eval_samples`` images per side. An existing study keeps its own.
        minutes_per_trial: each trial's time budget (``train.max_minutes``).
        storage: an Optuna storage URL; default ``sqlite:///STUDY/study.db``.
        workers: trials run at once, each in its own process, on this machine.
        seed: the sampler's seed (trials all train with the base's own seed).
        say: gets one progress line at a time.

    With ``workers`` > 1, call it under ``if __name__ == "__main__":`` - the worker
    processes are spawned, and a spawned process imports the main module again.

    Raises:
        GankitError: bad input, before anything is created or changed.
        KeyboardInterrupt: interrupted (the report is written first; re-run to continue).
    """
    study_dir = Path(study_dir)
    plan = _plan(base, study_dir, trials, space, objective, minutes_per_trial, storage, workers)
    objectives.warm_up(plan.objective, plan.completed, pick_device(base.train.device), say)
    study = _open(plan)
    setup = TrialSetup(
        study_dir, base, plan.space, plan.objective.name, minutes_per_trial, plan.n_images
    )
    info = _info(plan, setup, space)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # gankit says what happens, once
    try:
        try:
            _run_missing(study, setup, plan, trials, workers, seed, say)
        except (KeyboardInterrupt, training.Interrupted):
            report.write_report(study, study_dir, info)
            say("interrupted: checkpoints are kept; run the same command again to continue")
            raise KeyboardInterrupt from None
        return _finish(study, study_dir, info, plan.objective, say)
    finally:
        optuna.logging.set_verbosity(verbosity)


@dataclass
class _Plan:
    """Everything checked before a study is touched."""

    study_dir: Path
    base: Config
    space: Space
    completed: Config  # the base completed from the data
    n_images: int
    known: dict | None  # the existing study's study.json
    objective: objectives.Objective
    about: str  # the objective's line in the report (N, split)
    url: str
    storage: object  # an opened storage elsewhere, or None (the study's own: opened later)


def _plan(base, study_dir, trials, space, objective, minutes, storage, workers) -> _Plan:
    """Checks every input (and a storage elsewhere) without creating or changing anything."""
    _check_numbers(trials, workers, minutes)
    params = load_space(space, base)
    planned = training.plan(base)  # the dataset exists, the models build, labels are known
    completed = planned.config
    known = _read_study_file(study_dir)
    obj = objectives.choose(objective or (known or {}).get("objective"), completed)
    url = _storage_url(study_dir, storage, known)
    if known is not None:
        _check_same_study(study_dir, known, obj.name, base, params)
    about = objectives.describe(obj, completed)  # also checks N
    opened = store.open_storage(url) if storage is not None else None
    n = planned.n_images
    return _Plan(study_dir, base, params, completed, n, known, obj, about, url, opened)


def _open(plan: _Plan) -> optuna.Study:
    """Creates (or reuses) the folder and its files, then the Optuna study."""
    known, study_dir = plan.known, plan.study_dir
    name = known["name"] if known else _study_name(study_dir)
    recorded = None if plan.url == store.default_url(study_dir) else plan.url
    _create_folder(study_dir, known, name, plan.objective.name, recorded, plan.base, plan.space)
    return optuna.create_study(
        study_name=name,
        storage=plan.storage or store.open_storage(plan.url),
        direction=plan.objective.direction,
        load_if_exists=True,
    )


def _info(plan: _Plan, setup: TrialSetup, space) -> report.StudyInfo:
    return report.StudyInfo(
        name=plan.study_dir.name,
        folder=str(plan.study_dir),
        objective=plan.objective.name,
        about=plan.about,
        base=plan.base.preset or "a custom config",
        space=plan.space,
        space_from=_space_from(space, plan.base),
        budget=_budget(setup, plan.base),
        storage=store.masked(plan.url),
    )


def _run_missing(study, setup, plan: _Plan, trials, workers, seed, say) -> None:
    """Queues dead trials again, then runs the trials still missing."""
    for number in store.recover(study):
        say(f"trial {number} was interrupted: its parameters are queued to run again")
    all_trials = study.get_trials(deepcopy=False)
    missing = trials - store.finished(all_trials)
    if missing <= 0:
        say(f"the study already has {trials} finished trials - pass a larger --trials to add more")
        return
    quotas = split(missing, workers)
    say(
        f"running {missing} trial{'s' * (missing != 1)} "
        f"({len(quotas)} at a time) in {setup.study_dir}"
    )
    link = StudyLink(plan.url, study.study_name, seed, offset=len(all_trials))
    run_workers(setup, link, quotas, say)


def _finish(study, study_dir: Path, info, obj, say) -> StudyResult:
    trials = study.get_trials(deepcopy=False)
    best = report.best_trial(trials)
    best_config = report.write_best(study_dir, best)
    path = report.write_report(study, study_dir, info)
    count = {s: sum(t.state == s for t in trials) for s in TrialState}
    result = StudyResult(
        study_dir=study_dir,
        objective=obj.name,
        direction=obj.direction,
        best_value=None if best is None else float(best.value),
        best_params={} if best is None else dict(best.params),
        best_run=None if best is None else study_dir / best.user_attrs.get("run", ""),
        best_config=best_config,
        n_complete=count[TrialState.COMPLETE],
        n_pruned=count[TrialState.PRUNED],
        n_failed=count[TrialState.FAIL],
        report=path,
    )
    counts = f"{result.n_complete} complete, {result.n_pruned} pruned, {result.n_failed} failed"
    if best_config is None:
        say(f"no complete trial with a run folder yet ({counts}); report: {path}")
    else:
        say(
            f"best: trial {best.number}, {obj.name} {best.value:.4g} ({counts}) - "
            f"run {result.best_run}, config {best_config}"
        )
        say(f"report: {path} (and {report.HTML})")
    return result


# --- checks, all before anything is written ---


def _check_numbers(trials: int, workers: int, minutes: float | None) -> None:
    if not isinstance(trials, int) or trials <= 0:
        raise GankitError(f"--trials must be a positive number of trials, got {trials}")
    if not isinstance(workers, int) or workers < 1:
        raise GankitError(f"--workers must be at least 1, got {workers}")
    if minutes is not None and not minutes > 0:
        raise GankitError(f"--minutes-per-trial must be positive, got {minutes}")


def _read_study_file(study_dir: Path) -> dict | None:
    """The existing study's identity; None for a new (absent or empty) folder."""
    if not study_dir.exists():
        return None
    if not study_dir.is_dir():
        raise GankitError(f"{study_dir} is a file - give a folder for --study")
    path = study_dir / STUDY_FILE
    if not path.is_file():
        # A crash while writing study.json leaves only its temporary file: still a new study.
        if any(not durable.is_leftover(p.name) for p in study_dir.iterdir()):
            raise GankitError(
                f"{study_dir} is not empty and holds no {STUDY_FILE}, so it is not a gankit "
                "study - pick another --study"
            )
        return None
    try:
        known = json.loads(path.read_text())
        assert known["format"] == FORMAT and isinstance(known["name"], str)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise GankitError(f"{path} is damaged - restore it or pick another --study") from None
    return known


def _storage_url(study_dir: Path, given: str | None, known: dict | None) -> str:
    default = store.default_url(study_dir)
    recorded = (known or {}).get("storage")  # None: the study's own study.db
    if known is not None and given is not None and given != default:
        if recorded is None:
            raise GankitError(
                f"{study_dir} keeps its trials in {store.DB_FILE}, not in "
                f"{store.masked(given)} - drop --storage"
            )
        if store.masked(given) != recorded:
            raise GankitError(
                f"{study_dir} keeps its trials in {recorded}, not in {store.masked(given)} "
                "- pass that --storage, or pick another --study"
            )
    if known is not None and given is None and recorded is not None:
        raise GankitError(f"{study_dir} keeps its trials in {recorded} - pass --storage with it")
    return given or default


def _check_same_study(study_dir: Path, known: dict, objective: str, base: Config, params) -> None:
    """A study's trials must stay comparable: same objective, same base outside the space."""
    if known.get("objective") != objective:
        raise GankitError(
            f"{study_dir} optimises {known.get('objective')}, not {objective} - drop --objective "
            "or pick another --study"
        )
    if (study_dir / SPACE_FILE).is_file():
        check_compatible(load_space(study_dir / SPACE_FILE, base), params, study_dir / SPACE_FILE)
    try:
        before = config_io.load(study_dir / BASE_FILE)
    except GankitError:
        return  # no readable base.yaml (an old or edited study): nothing to compare with
    old, new = _fields(before), _fields(base)
    differ = [n for n in new if n not in params and n not in FREE and old.get(n) != new[n]]
    if differ:
        shown = "; ".join(f"{n} {old.get(n)!r} there, {new[n]!r} now" for n in differ[:3])
        raise GankitError(
            f"the base config differs from {study_dir / BASE_FILE} ({shown}) - re-run with the "
            "same preset/config and options, or pick another --study"
        )


def _fields(cfg: Config) -> dict:
    index = config_io.field_index()
    flat = {n: getattr(getattr(cfg, s), n) for n, (s, _) in index.items() if s != "log"}
    return flat | {"preset": cfg.preset}


# --- the folder ---


def _create_folder(study_dir, known, name, objective, storage_url, base, params: Space) -> None:
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
        if known is None:
            identity = {
                "format": FORMAT,
                "version": VERSION,
                "name": name,
                "storage": None if storage_url is None else store.masked(storage_url),
                "objective": objective,
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            identity_text = json.dumps(identity, indent=1) + "\n"
            durable.write_file(study_dir / STUDY_FILE, identity_text, fault="tune.trial")
            config_io.save(base, study_dir / BASE_FILE)
        durable.write_file(study_dir / SPACE_FILE, space_yaml(params), fault="tune.trial")
    except OSError as e:
        raise GankitError(
            f"cannot create the study folder {study_dir}: {durable.describe(e)} - free space "
            "and run the same command again"
        ) from None


def _study_name(study_dir: Path) -> str:
    """The folder's name, plus a hash of its path: studies in one database stay apart."""
    digest = hashlib.sha1(str(study_dir.resolve()).encode()).hexdigest()[:8]
    return f"{study_dir.resolve().name}-{digest}"


def _space_from(space, base: Config) -> str:
    if space is None:
        return f"the default space for {family(base)}"
    return "the mapping given" if isinstance(space, dict) else f"the space file {space}"


def _budget(setup: TrialSetup, base: Config) -> str:
    t = base.train
    planned = f"{t.steps} steps" if t.steps else f"{t.epochs:g} epochs"
    when = (
        f"every {base.log.eval_every} steps"
        if base.log.eval_every
        else f"{EVALS_PER_TRIAL} times over the planned steps"
    )
    limit = f", at most {setup.minutes_per_trial:g} min" if setup.minutes_per_trial else ""
    return f"{planned}{limit}; evaluated {when} (and at the end if the time budget ends it)"
