"""Where a study's trials live, and how trials whose process died are found and retried.

Owns opening Optuna's relational storage (default ``sqlite:///STUDY/study.db``;
any SQLAlchemy URL Optuna accepts) with its heartbeat switched on, and the rules
for what counts as done. Every running trial writes a heartbeat every
``HEARTBEAT_S`` seconds; a RUNNING trial without one for ``GRACE_S`` seconds
belongs to a process that was killed, so it is marked failed and its parameters
are queued again (Optuna's ``RetryHeartbeatStaleTrialCallback``, at most
``MAX_RETRY`` times). Optuna checks this before each new trial; ``recover``
also does it when a study is re-run, and retries trials that ended by an
interruption (Ctrl-C) rather than by an error of their own.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from gankit.errors import GankitError

try:  # renamed in Optuna 4.9
    from optuna.storages import RetryHeartbeatStaleTrialCallback as _Retry
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import RetryFailedTrialCallback as _Retry

HEARTBEAT_S = 10  # seconds between a running trial's heartbeats
GRACE_S = 60  # a RUNNING trial silent for this long is taken for dead
MAX_RETRY = 2  # times a trial whose process died is run again
DB_FILE = "study.db"
ERROR = "error"  # a trial's `stop` attribute starts with this when it failed on its own


def default_url(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / DB_FILE).resolve()}"


def masked(url: str) -> str:
    """The URL with any password hidden, for files and messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy can parse: shown as given
        return url


def open_storage(url: str) -> RDBStorage:
    """Optuna's storage at ``url`` with heartbeats, or one line saying why it cannot be opened."""
    if ":memory:" in url or url.rstrip("/") == "sqlite:":
        raise GankitError(
            "an in-memory storage is lost when gankit exits and cannot be shared by workers "
            "- give a file (sqlite:///PATH.db) or a database server URL"
        )
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    # Optuna 4.9 renamed the callback argument; the older name still works, with a warning.
    params = inspect.signature(RDBStorage.__init__).parameters
    key = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in params
        else "failed_trial_callback"
    )
    try:
        with quiet():
            return RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                **{key: retry_callback()},
            )
    except Exception as e:  # noqa: BLE001 - drivers fail in many ways: bad URL, no module, refused
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise GankitError(
            f"cannot open the study storage {masked(url)} ({reason}) - check the URL and its "
            "database driver, or leave out --storage to keep the study in STUDY/study.db"
        ) from None


def retry_callback():
    """Queues a dead trial's parameters again as a new trial (at most ``MAX_RETRY`` times)."""
    with quiet():
        return _Retry(max_retry=MAX_RETRY)


@contextlib.contextmanager
def quiet():
    """Silences Optuna's "experimental feature" warnings (heartbeat, retry) around a block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def recover(study: optuna.Study) -> list[int]:
    """Fails trials whose process died, queues their parameters again; returns their numbers."""
    from optuna.storages import fail_stale_trials

    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))}
    with quiet():
        fail_stale_trials(study)  # RUNNING without a recent heartbeat -> FAIL -> queued again
        trials = study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        retry = retry_callback()
        for t in trials:
            # Interrupted (Ctrl-C, a crash) rather than failed on its own: run it again.
            if t.state == TrialState.FAIL and not failed_on_its_own(t) and t.number not in retried:
                retry(study, t)
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return sorted(
        t.system_attrs.get("failed_trial", t.number) for t in waiting if t.number not in before
    )


def failed_on_its_own(t: FrozenTrial) -> bool:
    """A failed trial that ran to its end (e.g. its losses diverged): it counts as done."""
    return str(t.user_attrs.get("stop", "")).startswith(ERROR)


def finished(trials: list[FrozenTrial]) -> int:
    """Trials that count towards ``--trials``: complete, pruned, or failed on their own."""
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    return sum(
        t.state in done or (t.state == TrialState.FAIL and failed_on_its_own(t)) for t in trials
    )
