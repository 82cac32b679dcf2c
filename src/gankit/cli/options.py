"""Command-line flags generated from dataclass fields and their metadata.

A field declared with ``config.knob`` carries its help text, unit and flag
spelling, so the meaning of a knob is stated once: ``add_field_flags`` turns a
dataclass's fields into flags (``lr_g`` -> ``--lr-g``) for the config and for
the option sets of ``gankit evaluate`` and ``gankit reproduce``. Config flags
default to "not given" so that only what the user typed overrides the preset.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from gankit import config as config_io
from gankit.config import DERIVED, Config

CONFIG_PREFIX = "cfg_"


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per config field, grouped by section; values stay text until overridden."""
    defaults = Config()
    for section in config_io.SECTIONS:
        group = parser.add_argument_group(f"{section} options")
        values = getattr(defaults, section)
        add_field_flags(group, values, not_given=True, prefix=CONFIG_PREFIX, skip=DERIVED)


def config_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The config fields the user set on the command line."""
    return {
        key[len(CONFIG_PREFIX) :]: value
        for key, value in vars(args).items()
        if key.startswith(CONFIG_PREFIX) and value is not None
    }


def add_field_flags(
    parser: Any,
    instance: Any,
    *,
    not_given: bool = False,
    prefix: str = "",
    skip: typing.Collection[str] = (),
) -> None:
    """Adds a flag for each field of the dataclass ``instance``, from the field's metadata.

    Args:
        parser: the ``ArgumentParser`` or argument group to add to.
        instance: whose values are the defaults shown (and used, unless ``not_given``).
        not_given: every flag defaults to None and keeps the typed text (the config's
            flags, which ``config.override`` checks); otherwise argparse converts.
        prefix: put before each field name to make the flag's ``dest``.
        skip: field names that get no flag.
    """
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        if f.name in skip:
            continue
        meta = f.metadata
        default = meta.get("cli_default", getattr(instance, f.name))
        flags = [meta.get("flag") or "--" + f.name.replace("_", "-"), *meta.get("aliases", ())]
        kind = _kind(hints[f.name], default, meta, not_given)
        text = _help(meta, default, show_default=not_given or _worth_showing(default))
        if kind.get("action") == "store_false":  # the flag says what it turns off
            text = f"turns off {text}"
        dest = prefix + f.name
        parser.add_argument(
            *flags, dest=dest, default=None if not_given else default, help=text, **kind
        )


def field_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The values of the flags ``add_field_flags`` made for ``cls``, by field name."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}


def _kind(tp: Any, default: Any, meta: typing.Mapping, not_given: bool) -> dict[str, Any]:
    """How argparse reads the field: a switch for a bool, else a (typed) value."""
    args = typing.get_args(tp)
    if tp is bool or set(args) == {bool, type(None)}:
        if not_given or default is None:
            return {"action": argparse.BooleanOptionalAction}
        # A switch turns the default around: --tstr sets True, --quiet sets progress False.
        return {"action": "store_false" if default else "store_true"}
    if type(None) in args:  # `Path | None`: the type that is not None
        tp = next(a for a in args if a is not type(None))
    if meta.get("choices"):
        return {"choices": meta["choices"]}
    if not_given:  # the config's flags keep the text; their metavar names the type
        return {"metavar": "LIST" if typing.get_origin(tp) is list else tp.__name__.upper()}
    kwargs: dict[str, Any] = {"metavar": meta["metavar"]} if meta.get("metavar") else {}
    return kwargs | ({"type": tp} if tp in (int, float, Path) else {})


def _help(meta: typing.Mapping, default: Any, show_default: bool) -> str:
    if not show_default:
        return meta["help"]
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    return f"{meta['help']} (default: {_show(default)}{unit})"


def _worth_showing(default: Any) -> bool:
    """Command options show a default unless it is a switch or "not set" (the help says it)."""
    return not (default is None or isinstance(default, bool) or default == "")


def _show(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    if value == "":
        return "''"
    return str(value)


__all__ = ["add_config_flags", "add_field_flags", "config_overrides", "field_values"]
