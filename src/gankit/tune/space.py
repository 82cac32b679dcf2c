"""The search space: which config fields a study varies, and over what.

Owns the space file's format, its validation against the config's fields, the
default space of each preset family, and turning an Optuna trial's suggestions
into config overrides. A space maps config field names (as ``gankit train``
spells its flags: ``lr_g`` or ``lr-g``) to a distribution::

    lr_g:     {dist: loguniform, low: 1.0e-5, high: 1.0e-3}
    beta1_g:  {dist: uniform, low: 0.0, high: 0.9, step: 0.1}   # step is optional
    n_critic: {dist: int, low: 1, high: 5}                      # step or log: true optional
    g_width:  {dist: categorical, choices: [16, 32, 64]}

``loguniform`` and ``uniform`` suit number fields, ``int`` integer fields and
``categorical`` any field; list fields (``g_hidden``) take lists, or
comma-separated text, as choices. Everything is checked before a study starts,
so a typo costs one line, not a night of trials.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gankit import config as config_io
from gankit.config import Config, read_yaml
from gankit.errors import GankitError
from gankit.registry import unknown_name_message
from gankit.values import shown

DISTS = ("categorical", "int", "loguniform", "uniform")
# The keys each distribution takes besides `dist` (the first two are required).
KEYS = {
    "loguniform": ("low", "high"),
    "uniform": ("low", "high", "step"),
    "int": ("low", "high", "step", "log"),
    "categorical": ("choices",),
}
NOT_SEARCHABLE = config_io.DERIVED  # filled in from the data when a run starts
EXAMPLE = "{dist: loguniform, low: 1.0e-5, high: 1.0e-3}"


@dataclass(frozen=True)
class Param:
    """One searched field: its distribution and bounds (or choices, as Optuna takes them)."""

    name: str
    dist: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple = ()  # None/bool/int/float/str only; list fields as "256,512" text

    def describe(self) -> str:
        """One line for reports: ``loguniform 1e-05 .. 0.001``."""
        if self.dist == "categorical":
            return "one of " + ", ".join(map(str, self.choices))
        text = f"{self.dist} {self.low:g} .. {self.high:g}"
        return text + (f" step {self.step:g}" if self.step else "") + (" (log)" * self.log)

    def to_dict(self) -> dict[str, Any]:
        """The space-file form of this parameter."""
        if self.dist == "categorical":
            return {"dist": self.dist, "choices": list(self.choices)}
        out = {"dist": self.dist, "low": self.low, "high": self.high}
        return (
            out | ({"step": self.step} if self.step else {}) | ({"log": True} if self.log else {})
        )


Space = dict[str, Param]


def load_space(space: dict | str | Path | None, base: Config) -> Space:
    """The space a study searches: a mapping, a YAML file, or None for the base's default."""
    if space is None:
        return parse_space(default_space(base), "the default space")
    if isinstance(space, dict):
        return parse_space(space, "space")
    path = Path(space)
    return parse_space(read_yaml(path, "space file"), f"space file {path}")


def parse_space(raw: Any, source: str = "space") -> Space:
    """Checks a space mapping field by field; the first problem is a one-line error."""
    if not isinstance(raw, dict) or not raw:
        raise GankitError(
            f"{source}: expected a mapping of config fields to distributions, e.g. "
            f"lr_g: {EXAMPLE} - name at least one field"
        )
    index = config_io.field_index()
    space: Space = {}
    for key, spec in raw.items():
        name = str(key).replace("-", "_")
        where = f"{source}: {key}"
        if name in NOT_SEARCHABLE:
            raise GankitError(
                f"{where}: filled in from the data when a run starts - not searchable"
            )
        if name not in index:
            valid = sorted(set(index) - NOT_SEARCHABLE)
            raise GankitError(f"{source}: {unknown_name_message('config field', name, valid)}")
        if name in space:
            raise GankitError(f"{where}: given twice (as lr_g and lr-g?) - keep one")
        space[name] = _param(name, index[name][1], spec, where)
    return space


def _param(name: str, tp: Any, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict):
        raise GankitError(
            f"{where}: expected a distribution, got {shown(spec)} - write e.g. {EXAMPLE}"
        )
    dist = spec.get("dist")
    if dist not in DISTS:
        what = "no dist given" if dist is None else unknown_name_message("dist", str(dist), DISTS)
        raise GankitError(f"{where}: {what} - add dist: one of {', '.join(DISTS)}")
    extra = sorted(set(spec) - {"dist", *KEYS[dist]})
    if extra:
        raise GankitError(
            f"{where}: {dist} takes {', '.join(KEYS[dist])}, not {', '.join(map(str, extra))}"
        )
    if dist == "categorical":
        return Param(name, dist, choices=_choices(name, spec.get("choices"), where))
    kind = "integer" if tp is int else ("number" if tp is float else None)
    fits = {"int": "integer", "loguniform": "number", "uniform": "number"}[dist]
    if kind != fits:
        use = {"integer": "int", "number": "loguniform or uniform"}.get(kind, "categorical")
        raise GankitError(f"{where}: the field is not a {fits} - use dist: {use} (or categorical)")
    for key in ("low", "high"):
        if key not in spec:
            raise GankitError(f"{where}: {dist} needs low and high, e.g. {EXAMPLE}")
    integer = dist == "int"
    low, high = (_number(spec[k], f"{where}: {k}", integer) for k in ("low", "high"))
    if low > high:
        raise GankitError(f"{where}: low {low:g} is above high {high:g} - swap them")
    if dist == "loguniform" and low <= 0:
        raise GankitError(f"{where}: loguniform needs low > 0, got {low:g} - use uniform")
    step = spec.get("step")
    if step is not None:
        step = _number(step, f"{where}: step", integer)
        if step <= 0:
            raise GankitError(f"{where}: step must be positive, got {step:g} - fix it or drop it")
        if not math.isclose(round((high - low) / step) * step, high - low, abs_tol=1e-9):
            raise GankitError(f"{where}: high - low ({high - low:g}) is not a multiple of step")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise GankitError(f"{where}: log must be true or false, got {shown(log)} - fix it")
    if log and step not in (None, 1):
        raise GankitError(f"{where}: an int with log: true cannot have a step - drop one")
    if log and low < 1:
        raise GankitError(f"{where}: an int with log: true needs low >= 1, got {low} - raise low")
    return Param(name, dist, low, high, step, log)


def check_compatible(old: Space, new: Space, where: str) -> None:
    """A study's parameters keep their kind and choices (Optuna cannot mix them in one study)."""
    for name in old.keys() & new.keys():
        a, b = old[name], new[name]
        if a.dist != b.dist or a.log != b.log or a.choices != b.choices:
            raise GankitError(
                f"{name} is searched as {b.describe()} now but as {a.describe()} in {where} - "
                "a study cannot change a parameter's kind or choices; keep them, or pick "
                "another --study"
            )


def _number(value: Any, where: str, integer: bool) -> float | int:
    # YAML 1.1 reads 1e-4 (no dot) as text: numbers given as text are accepted too.
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            pass
    if number is None or not math.isfinite(number):
        raise GankitError(f"{where}: expected a number, got {shown(value)} - fix it")
    if integer:
        if float(number) != int(number):
            raise GankitError(f"{where}: expected a whole number, got {shown(value)} - fix it")
        return int(number)
    return float(number)


def _choices(name: str, choices: Any, where: str) -> tuple:
    if not isinstance(choices, list) or not choices:
        raise GankitError(f"{where}: categorical needs a non-empty list, e.g. choices: [16, 32]")
    section, tp = config_io.field_index()[name]
    out = []
    for choice in choices:
        try:  # the same check (and conversion) a config file's value gets
            config_io.from_dict({section: {name: choice}}, source=f"choice {choice!r}")
        except GankitError as e:
            raise GankitError(f"{where}: {e}") from None
        if typing.get_origin(tp) is list:  # Optuna's choices are scalars: lists go as text
            choice = ",".join(map(str, choice)) if isinstance(choice, list) else str(choice)
        out.append(choice)
    return tuple(out)


def default_space(cfg: Config) -> dict[str, dict]:
    """The space searched when none is given, by the base config's family.

    Learning rates within a factor of 10 of the base's (log scale); Adam's betas
    between the two common settings (0.5/0.999 of DCGAN, 0/0.9 of the WGAN-GP and
    hinge recipes); the critic steps and the clip value (WGAN) or penalty weight
    (WGAN-GP, DRAGAN); and DCGAN widths from half to twice the base's.
    """
    t, loss, model = cfg.train, cfg.loss, cfg.model
    space: dict[str, dict] = {
        f"lr_{net}": {"dist": "loguniform", "low": _sig(lr / 10), "high": _sig(lr * 10)}
        for net, lr in (("g", t.lr_g), ("d", t.lr_d))
    }
    if t.optimizer == "adam":
        for net in ("g", "d"):
            space[f"beta1_{net}"] = {"dist": "categorical", "choices": [0.0, 0.5]}
            space[f"beta2_{net}"] = {"dist": "categorical", "choices": [0.9, 0.999]}
    if loss.loss.startswith("wgan"):
        space["n_critic"] = {"dist": "int", "low": 1, "high": 5}
    if loss.loss == "wgan":
        c = loss.clip_value
        space["clip_value"] = {"dist": "loguniform", "low": _sig(c / 3), "high": _sig(c * 3)}
    if loss.loss in ("wgan-gp", "dragan"):  # the gradient penalties' weight
        w = loss.gp_weight
        space["gp_weight"] = {"dist": "loguniform", "low": _sig(w / 10), "high": _sig(w * 3)}
    if model.arch == "dcgan":
        for name in ("g_width", "d_width"):
            w = getattr(model, name)
            widths = sorted({max(4, w // 2), w, min(model.max_width, 2 * w)})
            space[name] = {"dist": "categorical", "choices": widths}
    return space


def family(cfg: Config) -> str:
    """What the default space is chosen by, for reports: ``dcgan, wgan-gp, adam``."""
    return f"{cfg.model.arch}, {cfg.loss.loss}, {cfg.train.optimizer}"


def _sig(x: float) -> float:
    """``x`` to 3 significant digits, so the space file reads 2e-05, not 2.0000000000000002e-05."""
    return float(f"{x:.3g}")


def suggest(trial, space: Space) -> dict[str, Any]:
    """Asks an Optuna ``trial`` for a value of every parameter: {field: value}."""
    values = {}
    for p in space.values():
        if p.dist == "categorical":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.dist == "int":
            values[p.name] = trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            log = p.dist == "loguniform"
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=log)
    return values


def space_yaml(space: Space) -> str:
    """The space as a space file (what the study's ``space.yaml`` holds)."""
    raw = {name: p.to_dict() for name, p in space.items()}
    return yaml.safe_dump(raw, sort_keys=False, default_flow_style=None)
