"""Which runs the app serves, under which URL ids, and which of their files it may send.

Owns: finding runs under the folders ``gankit serve`` is given (a run itself,
or any subfolder one or two levels deep with a ``config.yaml``), giving each a
URL-safe id (its folder name, de-duplicated), turning a checkpoint choice
into a step, and naming the few files a page may show. A request only ever
names an id; paths are built here from the run's own layout and checked to
stay inside the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

from gankit.config import Config
from gankit.errors import GankitError
from gankit.run import Run, is_run, open_run
from gankit.web.errors import NotFound
from gankit.web.security import check_id, inside

REPORT = ("eval", "report.html")  # written by gankit evaluate
_CHECKPOINT = re.compile(r"^(latest|best|\d{1,9})$")


class ServedRun:
    """One run as the app sees it: an id, the run, and its config read once."""

    def __init__(self, run_id: str, run: Run):
        self.id, self.run, self.root = run_id, run, run.path.resolve()

    @cached_property
    def config(self) -> Config:
        return self.run.config()

    @property
    def class_names(self) -> list[str]:
        return list(self.config.data.class_names)

    @property
    def conditional(self) -> bool:
        return self.config.model.conditioning != "none" and bool(self.class_names)

    def checkpoint(self, which: str | int = "latest") -> int:
        """'latest', 'best' or a step number -> the step of a complete checkpoint, else 404."""
        text = str(which).strip()
        if not _CHECKPOINT.fullmatch(text):
            raise NotFound(
                f"checkpoint must be 'latest', 'best' or a step number, got {text[:40]!r}"
            )
        try:
            return self.run.resolve_step(text)
        except (GankitError, OSError):  # a damaged best.json too
            steps = self.run.checkpoint_steps()
            has = ", ".join(map(str, steps[-8:])) or "none yet"
            raise NotFound(f"run {self.id} has no checkpoint {text!r} (has: {has})") from None

    def has_best(self) -> bool:
        return self.run.has_best()

    def sample_steps(self) -> list[int]:
        """Steps of the sample grids written while training, in order."""
        return self.run.sample_steps()

    def sample_file(self, step: int) -> Path:
        if step not in self.sample_steps():
            raise NotFound(f"run {self.id} has no sample grid at step {step}")
        return inside(self.root, self.run.sample_path(step))

    def losses_file(self) -> Path:
        return inside(self.root, self.run.losses_path)

    def report_file(self) -> Path | None:
        """The evaluation report, when ``gankit evaluate`` has been run."""
        try:
            return inside(self.root, self.run.path.joinpath(*REPORT))
        except NotFound:
            return None


class Catalog:
    """The served runs by id, in the order found."""

    def __init__(self, paths: Sequence[str | Path]):
        self._runs: dict[str, ServedRun] = {}
        self.skipped: list[str] = []  # one line per run left out, for the server to print
        for path in find_runs(paths):
            served = ServedRun(_unique(_slug(path.name), self._runs), open_run(path))
            try:
                _ = served.config  # read now: one damaged config must not break every page
            except GankitError as e:
                self.skipped.append(f"{path}: {e}")
                continue
            self._runs[served.id] = served
        if not self._runs:
            raise GankitError("no usable runs: " + "; ".join(self.skipped))

    def __iter__(self) -> Iterator[ServedRun]:
        return iter(self._runs.values())

    def __len__(self) -> int:
        return len(self._runs)

    def ids(self) -> list[str]:
        return list(self._runs)

    def ready(self) -> list[ServedRun]:
        """The runs with a complete checkpoint (the ones that can generate), in order."""
        return [served for served in self if served.run.checkpoint_steps()]

    def require_ready(self) -> list[ServedRun]:
        """``ready()``, or 404 when no run has a checkpoint yet."""
        ready = self.ready()
        if not ready:
            raise NotFound("no served run has a checkpoint yet - train one first")
        return ready

    def get(self, run_id: str) -> ServedRun:
        check_id(run_id, "run")
        try:
            return self._runs[run_id]
        except KeyError:
            raise NotFound(f"no run {run_id!r} (served: {', '.join(self._runs)})") from None


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders among ``paths``: each a run, or a folder holding runs (two levels at most)."""
    found: list[Path] = []
    for path in (Path(p).expanduser() for p in paths):
        if not path.is_dir():
            raise GankitError(f"{path} is not a folder - give run folders or folders holding runs")
        runs = [path] if is_run(path) else _runs_below(path)
        if not runs:
            raise GankitError(
                f"no gankit runs in {path} (no config.yaml there or one or two folders down) "
                "- point at a run made by gankit train, or at the folder holding runs"
            )
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    return found


def _runs_below(folder: Path) -> list[Path]:
    runs = []
    for child in _subfolders(folder):
        if is_run(child):
            runs.append(child)
        else:  # e.g. runs/fashion/{gan,dcgan}: one more level, no deeper
            runs += [grandchild for grandchild in _subfolders(child) if is_run(grandchild)]
    return runs


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:  # unreadable: nothing served from there
        return []


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "run"


def _unique(name: str, taken: dict[str, ServedRun]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def default_db(paths: Sequence[str | Path]) -> Path:
    """Where the human-test answers go by default: in the folder served (beside a lone run)."""
    first = Path(paths[0]).expanduser()
    return (first.parent if is_run(first) else first) / "gankit-quiz.sqlite"
