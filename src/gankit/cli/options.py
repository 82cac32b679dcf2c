"""Command-line flags generated from the config dataclasses.

Every config field becomes a flag (``lr_g`` -> ``--lr-g``) whose help text is
the comment written next to the field in ``config.py``, so the meaning of a
knob is stated once. Flags default to "not given" so that only what the user
typed overrides the preset.
"""

from __future__ import annotations

import argparse
import inspect
import re
import typing

from gankit import config as config_io
from gankit.config import Config

# Filled in from the data when a run starts; not something to type.
DERIVED = {"class_names"}

_FIELD_LINE = re.compile(r"^\s+(\w+): [^=]+= (.+?)\s+# (.+)$")


def _field_comments() -> dict[str, str]:
    comments: dict[str, str] = {}
    for section in config_io.SECTIONS:
        source = inspect.getsource(type(getattr(Config(), section)))
        for line in source.splitlines():
            m = _FIELD_LINE.match(line)
            if m:
                comments[m.group(1)] = m.group(3)
    return comments


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per config field, grouped by section."""
    comments = _field_comments()
    defaults = Config()
    index = config_io.field_index()
    groups = {s: parser.add_argument_group(f"{s} options") for s in config_io.SECTIONS}
    for name, (section, tp) in index.items():
        if name in DERIVED:
            continue
        flag = "--" + name.replace("_", "-")
        default = getattr(getattr(defaults, section), name)
        help_text = f"{comments.get(name, '')} (default: {_show(default)})".strip()
        kwargs = {"dest": f"cfg_{name}", "default": None, "help": help_text}
        if tp is bool:
            groups[section].add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            metavar = "LIST" if typing.get_origin(tp) is list else tp.__name__.upper()
            groups[section].add_argument(flag, metavar=metavar, **kwargs)


def config_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The config fields the user set on the command line."""
    return {
        key[4:]: value
        for key, value in vars(args).items()
        if key.startswith("cfg_") and value is not None
    }


def _show(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    if value == "":
        return "''"
    return str(value)


__all__ = ["add_config_flags", "config_overrides"]
