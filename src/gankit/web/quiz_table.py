"""The human test's results as document 003 tabled them: one row per dataset, one column
per model type (GAN, DCGAN, WGAN, WGAN-GP), each cell a human error rate.

Owns which cell a run belongs to and how a cell pools its runs' answers. A run
made from one of 003's presets takes the document's names and its reported
rate; another run is placed by its objective and network (the standard or
minimax loss on an MLP or a DCGAN, the WGAN or WGAN-GP critic), and a run of
any other kind gets a row of its own in an "other" block. The statistic is the
test's (``quiz``): answers pool by adding missed and shown generated images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gankit.config import Config
from gankit.web.catalog import Catalog
from gankit.web.quiz import (
    DATA_003,
    GENERATED,
    MODELS_003,
    Quiz,
    Result,
    error_rate,
    presets_003,
    wilson,
)

MODELS = tuple(MODELS_003.values())  # the table's columns, in the document's order
OTHER = "other"
_STANDARD_LOSSES = {"ns", "minimax"}  # the original GAN objective, either generator form
_ARCHES = {"mlp": "GAN", "dcgan": "DCGAN"}
_CRITICS = {"wgan": "WGAN", "wgan-gp": "WGAN-GP"}


@dataclass(frozen=True)
class Kind:
    """Where a run goes in the table, and 003's rate for it where it is a 003 preset."""

    dataset: str
    model: str  # one of MODELS, or OTHER
    reported: float | None = None  # in %


@dataclass(frozen=True)
class Cell:
    """The pooled answers of the runs of one dataset and model type."""

    dataset: str
    model: str  # one of MODELS; in the other block, the run's objective and network
    runs: list[str]  # "run@checkpoint" of every run whose answers it pools
    answers: int
    missed: int
    error_rate: float
    ci_low: float
    ci_high: float
    reported: float | None  # 003's rate in %, where the runs are 003 presets


@dataclass(frozen=True)
class Table:
    datasets: list[str]  # rows, 003's datasets first
    models: list[str]  # columns
    cells: list[Cell]  # the filled ones of datasets x models
    other: list[Cell]  # one per run and checkpoint of any other kind

    def cell(self, dataset: str, model: str) -> Cell | None:
        return next((c for c in self.cells if (c.dataset, c.model) == (dataset, model)), None)


def kind_of(cfg: Config) -> Kind:
    """The table's row and column for a run with this config."""
    known = presets_003()
    if cfg.preset in known:
        return Kind(*known[cfg.preset])
    dataset = "MNIST" if cfg.data.dataset == "mnist" else cfg.data.dataset
    if cfg.loss.loss in _CRITICS:
        return Kind(dataset, _CRITICS[cfg.loss.loss])
    if cfg.loss.loss in _STANDARD_LOSSES and cfg.model.arch in _ARCHES:
        return Kind(dataset, _ARCHES[cfg.model.arch])
    return Kind(dataset, OTHER)


def kinds(catalog: Catalog) -> dict[str, tuple[Kind, str]]:
    """Every served run's kind and a short description (for the other block)."""
    return {
        served.id: (
            kind_of(served.config),
            f"{served.config.model.arch}, {served.config.loss.loss}",
        )
        for served in catalog
    }


def results_table(quiz: Quiz) -> Table:
    """The table of the answers given in document 003's mode on ``quiz``'s runs."""
    return table(quiz.results_003(), kinds(quiz.catalog))


def table(results: Sequence[Result], runs: dict[str, tuple[Kind, str]]) -> Table:
    """003's table of ``results`` (per run and checkpoint); ``runs``: id -> (kind, description).

    A run no longer served is not known: it goes to the other block as "not served".
    """
    pooled: dict[tuple[str, str], list[tuple[Result, Kind]]] = {}
    other = []
    for result in results:
        kind, description = runs.get(result.run, (Kind("?", OTHER), "not served"))
        if kind.model == OTHER:
            other.append(_cell(kind.dataset, description, [(result, kind)]))
        else:
            pooled.setdefault((kind.dataset, kind.model), []).append((result, kind))
    cells = [_cell(dataset, model, rows) for (dataset, model), rows in pooled.items()]
    return Table(_rows({c.dataset for c in cells}), list(MODELS), cells, other)


def _cell(dataset: str, model: str, rows: list[tuple[Result, Kind]]) -> Cell:
    answers = sum(result.answers for result, _ in rows)
    missed = sum(result.missed for result, _ in rows)
    low, high = wilson(missed, GENERATED * answers)
    names = [f"{result.run}@{result.checkpoint}" for result, _ in rows]
    # 003's figure stands beside the cell when one of its runs is that 003 preset.
    reported = next((kind.reported for _, kind in rows if kind.reported is not None), None)
    rate = error_rate(missed, answers)
    return Cell(dataset, model, names, answers, missed, rate, low, high, reported)


def _rows(datasets: set[str]) -> list[str]:
    """003's datasets in its order, then any others by name."""
    ordered = [d for d in DATA_003.values() if d in datasets]
    return ordered + sorted(datasets - set(ordered))
