"""Named fault points: places where a test can make gankit crash or see a failing disk.

Code that writes a run, study or report folder calls ``point("checkpoint.state")`` at the moments
where a crash or a full disk would matter. Normally that does nothing. When the
environment variable ``GANKIT_FAULT`` is ``NAME:ACTION`` or ``NAME:ACTION:N``, the
point called NAME acts, every time it is reached or only the N-th time:

- ``kill``: the process sends itself SIGKILL (no handler, no clean-up: a power cut);
- ``enospc``: raises ``OSError(ENOSPC)``, as a full disk would;
- ``eio``: raises ``OSError(EIO)``, as a failing disk would.

The variable is read once per process, so an unset one costs a dict lookup per point.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
from dataclasses import dataclass

from gankit.errors import GankitError

ENV = "GANKIT_FAULT"
ACTIONS = ("kill", "enospc", "eio")

# Every point in the code, so a misspelt GANKIT_FAULT is an error rather than a no-op.
NAMES = (
    "config.save",  # config.yaml written to its temporary name, before the rename
    "checkpoint.generator",  # generator.safetensors written and synced
    "checkpoint.training",  # training.safetensors written and synced
    "checkpoint.state",  # state.json written and synced
    "checkpoint.before-rename",  # the complete temporary folder synced, not yet in place
    "checkpoint.aside",  # re-saving a step: the old folder moved aside, the new not yet in
    "checkpoint.after-rename",  # the checkpoint in place and its folder synced
    "checkpoint.prune",  # before each training state that pruning deletes
    "checkpoint.best",  # best.json written to its temporary name, before the rename
    "quiz.commit",  # a quiz answer written in its transaction, before the commit
    "metrics.flush",  # metrics lines appended to metrics.jsonl, before the fsync
    "metrics.rewrite",  # resume's cut metrics.jsonl at its temporary name, before the rename
    "samples.write",  # a PNG (the training's sample grid) at its temporary name, not renamed
    "plot.write",  # losses.png at its temporary name, before the rename
    "report.write",  # an evaluation or comparison file in its staged folder, before the rename
    "tune.trial",  # a study's bookkeeping file (study.json, space.yaml, report) before the rename
    "reproduce.write",  # a reproduction's manifest, reproduce.json or report, before the rename
)


@dataclass
class _Fault:
    name: str
    action: str
    nth: int | None  # None: every time the point is reached
    reached: int = 0


def point(name: str) -> None:
    """Acts when ``GANKIT_FAULT`` names this point (see the module docstring)."""
    fault = _planned()
    if fault is None or fault.name != name:
        return
    fault.reached += 1
    if fault.nth is not None and fault.reached != fault.nth:
        return
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    code = errno.ENOSPC if fault.action == "enospc" else errno.EIO
    raise OSError(code, f"{os.strerror(code)} (injected at fault point {name})")


@functools.cache
def _planned() -> _Fault | None:
    return parse(os.environ.get(ENV, ""))


def parse(text: str) -> _Fault | None:
    """``NAME:ACTION[:N]`` -> the planned fault; an empty text plans none.

    Raises:
        GankitError: an unknown point or action, or N not a positive whole number.
    """
    if not text:
        return None
    name, _, rest = text.partition(":")
    action, _, nth = rest.partition(":")
    if name not in NAMES:
        raise GankitError(f"{ENV}: unknown fault point {name!r} - one of {', '.join(NAMES)}")
    if action not in ACTIONS:
        raise GankitError(f"{ENV}: unknown action {action!r} - one of {', '.join(ACTIONS)}")
    if nth and not (nth.isdigit() and int(nth) > 0):
        raise GankitError(f"{ENV}: N must be a whole number from 1, got {nth!r} - fix it")
    return _Fault(name, action, int(nth) if nth else None)


def reset() -> None:
    """Forgets the planned fault, so the next point reads ``GANKIT_FAULT`` again (tests)."""
    _planned.cache_clear()
