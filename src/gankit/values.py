"""Typed values from text and YAML: how a config field's value is converted and checked,
and how any value is shown in a one-line message.

A value from the command line is text (``"1e-4"``, ``"true"``, ``"4,8"``); one from a
YAML file is already typed, perhaps wrongly. Either becomes the field's type or a
``GankitError`` that names where it came from. This module does not import torch.
"""

from __future__ import annotations

import math
import reprlib
import typing
from typing import Any

from gankit.errors import GankitError

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def coerce(tp: Any, value: Any, where: str) -> Any:
    """Converts ``value`` to ``tp`` (str, int, float, bool, list[int], list[str]) or fails clearly."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise GankitError(f"{where}: expected a list, got {shown(value)} - fix the value")
        return [coerce(item, v, where) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise GankitError(f"{where}: expected true or false, got {shown(value)} - fix the value")
    if tp is int:
        number = _integer(value)
        if number is None:
            raise GankitError(f"{where}: expected an integer, got {shown(value)} - fix the value")
        if abs(number) > MAX_INT:
            raise GankitError(f"{where}: {shown(value)} is out of range - use a smaller number")
        return number
    if tp is float:
        number = _number(value)
        if number is None:
            raise GankitError(f"{where}: expected a number, got {shown(value)} - fix the value")
        if not math.isfinite(number):
            raise GankitError(
                f"{where}: expected a finite number, got {shown(value)} - fix the value"
            )
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise GankitError(f"{where}: expected text, got {shown(value)} - fix the value")
    raise TypeError(f"unsupported config type {tp!r}")


# Every count, size and seed fits in 64 bits; beyond that a number is a typo or an attack.
MAX_INT = 2**63 - 1


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and len(value) <= 40:
        try:
            return int(value.replace("_", ""))
        except ValueError:
            return None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float
            return math.inf
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def shown(value: Any) -> str:
    """A value for a message: short, one line, and cheap however large or nested it is."""
    return " ".join(reprlib.repr(value).split())
