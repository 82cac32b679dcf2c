"""Running trials: in this process, or in K worker processes sharing one storage.

Owns the sampler and pruner (re-made in every process: Optuna keeps neither in
the storage), the split of one command's trials between workers, and the worker
processes themselves. Workers are started with ``spawn`` (a clean interpreter:
no forked torch threads or open database handles), each with
``torch.set_num_threads(cores // K)`` so K trainings share the cores rather
than fight over them, and each opens the storage itself. Their progress lines
come back through a queue to the caller's ``say``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import threading
from dataclasses import dataclass

import numpy as np
import optuna

from gankit import training
from gankit.errors import GankitError
from gankit.tune.storage import open_storage, quiet
from gankit.tune.trial import TrialSetup, run_trial

PRUNE_AFTER = 3  # complete trials before any is pruned (MedianPruner's n_startup_trials)
PRUNE_FROM = 2  # the first evaluation a trial may be pruned at (the first is too noisy)


@dataclass(frozen=True)
class StudyLink:
    """How a process finds the study, and seeds its sampler."""

    url: str  # the storage URL, password included (never written to a file)
    name: str  # the Optuna study name
    seed: int  # --seed
    offset: int  # trials the study had when this command began (re-runs sample afresh)


def sampler(link: StudyLink, worker: int) -> optuna.samplers.TPESampler:
    """TPE, seeded per study seed, worker and command: workers never draw the same values."""
    seed = int(np.random.SeedSequence([link.seed, worker, link.offset]).generate_state(1)[0])
    # constant_liar: a worker treats trials still running elsewhere as bad, to spread out.
    with quiet():
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def pruner() -> optuna.pruners.MedianPruner:
    """Stops a trial whose best value so far is worse than the median of complete trials."""
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER, n_warmup_steps=PRUNE_FROM)


def split(n: int, workers: int) -> list[int]:
    """``n`` trials as evenly as possible over ``workers`` (those with none are not started)."""
    return [q for q in (n // workers + (i < n % workers) for i in range(workers)) if q]


def optimize(setup: TrialSetup, link: StudyLink, n_trials: int, worker: int, say) -> None:
    """Runs ``n_trials`` trials of the study in this process."""
    study = optuna.load_study(
        study_name=link.name,
        storage=open_storage(link.url),
        sampler=sampler(link, worker),
        pruner=pruner(),
    )
    with quiet():  # Optuna's heartbeat and retry are 'experimental'
        study.optimize(lambda trial: run_trial(trial, setup, say), n_trials=n_trials)


def run_workers(setup: TrialSetup, link: StudyLink, quotas: list[int], say) -> None:
    """Runs ``quotas[i]`` trials in worker i: here when there is one, else in processes.

    Raises:
        KeyboardInterrupt: a worker was interrupted (after every worker has stopped).
        GankitError: a worker could not run (e.g. the storage went away).
    """
    if len(quotas) == 1:
        optimize(setup, link, quotas[0], 0, say)
        return
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    threads = max(1, _cores() // len(quotas))
    procs = [
        ctx.Process(target=_worker, args=(setup, link, q, i, threads, messages), name=f"tune-{i}")
        for i, q in enumerate(quotas)
    ]
    for p in procs:
        p.start()
    outcome: list[tuple[str, str]] = []
    try:
        with _stop_signals():
            while any(p.is_alive() for p in procs):
                _relay(messages, say, outcome, timeout=0.2)
    except KeyboardInterrupt:
        # Workers stop with a checkpoint on SIGINT (a terminal's Ctrl-C reaches them too).
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGINT)
        outcome.append(("interrupted", "main"))
    for p in procs:
        p.join()
    while _relay(messages, say, outcome, timeout=0.05):
        pass
    _raise_for(outcome, procs)


@contextlib.contextmanager
def _stop_signals():
    """SIGINT and SIGTERM interrupt the wait for the workers, as they do a training run.

    (Also when SIGINT was ignored: a shell starts background jobs that way.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _relay(messages, say, outcome: list, timeout: float) -> bool:
    """Passes on one message from the workers; False when none came."""
    try:
        kind, text = messages.get(timeout=timeout)
    except queue_module.Empty:
        return False
    if kind == "say":
        say(text)
    else:
        outcome.append((kind, text))
    return True


def _raise_for(outcome: list[tuple[str, str]], procs) -> None:
    errors = [text for kind, text in outcome if kind == "error"]
    if errors:
        raise GankitError(errors[0])
    if any(kind == "interrupted" for kind, _ in outcome):
        raise KeyboardInterrupt
    crashed = [p for p in procs if p.exitcode != 0]
    if crashed:
        raise RuntimeError(
            f"tune worker {crashed[0].name} ended with exit code {crashed[0].exitcode} "
            "(its traceback is above)"
        )


def _worker(setup, link, n_trials, worker, threads, messages) -> None:
    """A worker process: its share of the trials, its lines and its outcome to the queue."""
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        optimize(setup, link, n_trials, worker, lambda line: messages.put(("say", line)))
    except (KeyboardInterrupt, training.Interrupted):
        messages.put(("interrupted", f"worker {worker}"))
    except GankitError as e:
        messages.put(("error", str(e)))
    finally:
        messages.close()
        messages.join_thread()  # every line is delivered before the process ends
    sys.exit(0)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
