"""Reading YAML that may be hostile: bounded in size, in expansion, and free of duplicate keys.

``yaml.safe_load`` builds only plain data, but three things still get through it:
a file of gigabytes is read whole; anchors and aliases ("billion laughs") make a
few hundred bytes stand for billions of nodes, which are shared until something
walks or prints them (an error message's ``repr`` is enough to hang); and a key
given twice silently keeps the last value. ``read`` refuses all three in one line
before anything is built from the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import GankitError

MAX_BYTES = 1 << 20  # a config or space file is a few kilobytes; 1 MiB is no honest one
MAX_NODES = 100_000  # nodes after aliases are expanded; a full config has a few hundred
MAX_DEPTH = 100  # [ and { nested; PyYAML's scanner slows quadratically with the depth


def read(path: Path, what: str) -> Any:
    """The data of the YAML file at ``path`` (None when it holds no document).

    Args:
        what: what the file is, for messages ("config file", "space file").

    Raises:
        GankitError: the file is missing, unreadable, too large, not YAML, or hostile.
    """
    text = _read_text(Path(path), what)
    if _bracket_depth(text) > MAX_DEPTH:
        raise GankitError(f"{what} {path} is nested too deeply to be a {what} - fix it")
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_node(node, f"{what} {path}")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise GankitError(
            f"{what} {path} is not valid YAML ({str(e).splitlines()[0]}) - fix it"
        ) from None
    except RecursionError:
        raise GankitError(f"{what} {path} is nested too deeply to be a {what} - fix it") from None


def _read_text(path: Path, what: str) -> str:
    # Read at most one byte past the limit: a huge file (or /dev/zero) is never read whole.
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise GankitError(f"no {what} at {path} - check the path") from None
    except OSError as e:
        raise GankitError(
            f"cannot read {what} {path} ({e.strerror or e}) - check the path"
        ) from None
    if len(data) > MAX_BYTES:
        raise GankitError(
            f"{what} {path} is larger than {MAX_BYTES >> 20} MiB - that is no {what}; check the path"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise GankitError(f"cannot read {what} {path} (not UTF-8 text) - check the path") from None


def _bracket_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest, counted over the brackets alone (those in quotes too:
    an over-estimate only for text no config holds)."""
    depth = deepest = 0
    for bracket in re.sub(r"[^\[\]{}]", "", text):
        depth = depth + 1 if bracket in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


def _check_node(root: yaml.Node, where: str) -> None:
    """Refuses duplicate keys and alias expansion beyond ``MAX_NODES``, on the composed graph.

    Each node is visited once, its expanded size remembered, so a bomb costs as many
    steps as it has anchors, not as many as it stands for.
    """
    sizes: dict[int, int] = {}
    order = _post_order(root)
    for node in order:
        children = _children(node)
        if any(id(child) not in sizes for child in children):  # an ancestor: a cycle
            line = node.start_mark.line + 1
            raise GankitError(f"{where}: line {line} refers to itself (a recursive alias) - fix it")
        sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
        if sizes[id(node)] > MAX_NODES:
            line = node.start_mark.line + 1
            raise GankitError(
                f"{where}: line {line} expands to more than {MAX_NODES:,} values (aliases "
                "nested in aliases) - write the values out"
            )
        if isinstance(node, yaml.MappingNode):
            _check_unique_keys(node, where)


def _post_order(root: yaml.Node) -> list[yaml.Node]:
    """Every distinct node once, children before parents (iterative: no recursion limit)."""
    seen: set[int] = set()
    out: list[yaml.Node] = []
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            out.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in seen)
    return out


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_unique_keys(node: yaml.MappingNode, where: str) -> None:
    seen: set[str] = set()
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.value == "<<":  # merge keys may repeat
            continue
        if key.value in seen:
            raise GankitError(
                f"{where}: line {key.start_mark.line + 1}: key {key.value[:60]!r} is given "
                "twice - keep one"
            )
        seen.add(key.value)
