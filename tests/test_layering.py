"""The design's layering: no module imports from a layer above it."""

import ast
from pathlib import Path

import gankit

ROOT = Path(gankit.__file__).parent
LAYERS = {
    "errors": 0,
    "registry": 0,
    "config": 0,
    "config_summary": 0,
    "presets": 0,
    "options": 0,
    "rng": 0,
    "faults": 0,
    "durable": 0,
    "yaml_safe": 0,
    "values": 0,
    "data": 1,
    "models": 1,
    "losses": 1,
    "images": 1,
    "run": 2,
    "checkpoint": 2,
    "sampling": 2,
    "trained": 2,
    "training": 3,
    "metrics": 3,
    "tune": 4,
    "reproduce": 4,
    "api": 4,
    "cli": 4,
    "web": 4,
}


def _top(module_path: Path) -> str:
    rel = module_path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _imported_tops(tree: ast.AST) -> list[str]:
    """The gankit top-level modules a file imports, in every spelling.

    ``import gankit.x``, ``from gankit.x import y`` and ``from gankit import x`` all
    reach ``x``; the last one is easy to miss, and ``from gankit import train`` goes
    through the public API (layer 4) as well.
    """
    tops = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "gankit":
            tops += [_PUBLIC.get(a.name, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gankit."):
            tops.append(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            tops += [a.name.split(".")[1] for a in node.names if a.name.startswith("gankit.")]
    return tops


# Names ``gankit/__init__.py`` exports, by the module that defines them.
_PUBLIC = {name: module.split(".")[1] for name, module in gankit._EXPORTS.items()}


def test_imports_only_go_down_the_layers():
    bad = []
    for path in ROOT.rglob("*.py"):
        top = _top(path)
        if top not in LAYERS:
            continue
        for target in _imported_tops(ast.parse(path.read_text())):
            if target not in LAYERS or target == top:
                continue
            # Never upwards; and data, models, losses, images do not import each other.
            if LAYERS[target] > LAYERS[top] or LAYERS[target] == LAYERS[top] == 1:
                bad.append(f"{path.relative_to(ROOT)} imports gankit.{target}")
    assert not bad, bad


def test_every_spelling_of_an_import_is_seen():
    tree = ast.parse(
        "import gankit.web.app\nfrom gankit.cli import main\n"
        "from gankit import training, config\nfrom gankit import train\n"
    )
    assert _imported_tops(tree) == ["web", "cli", "training", "config", "api"]


def test_every_module_has_a_layer():
    tops = {_top(p) for p in ROOT.rglob("*.py")} - {"__init__", "__main__"}
    assert tops <= LAYERS.keys(), sorted(tops - LAYERS.keys())
