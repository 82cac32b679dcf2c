"""A tiny, explicit registry: names -> builders, validated and visible.

Duplicate names are rejected at import time; an unknown name is a user error
that lists the valid names and suggests the closest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

from gankit.errors import GankitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (usually classes or builder functions)."""

    def __init__(self, kind: str):
        self.kind = kind  # what the entries are, for error messages ("model", "loss")
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@MODELS.register("dcgan")``."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise GankitError(unknown_name_message(self.kind, name, self.names()))
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def unknown_name_message(kind: str, name: str, valid: list[str]) -> str:
    """``unknown model 'dcgn' - did you mean 'dcgan'? (valid: dcgan, mlp)``."""
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" - did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (valid: {', '.join(valid)})"
