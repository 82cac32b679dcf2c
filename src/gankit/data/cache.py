"""Where gankit keeps data on the user's machine, and decoded tensors on disk.

The cache root is ``$GANKIT_CACHE`` if set, else ``$XDG_CACHE_HOME/gankit``,
else ``~/.cache/gankit``. Downloaded IDX files live in ``<root>/<dataset>``,
decoded image folders in ``<root>/folders``. Tensor files are safetensors
written to a temporary file and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file


def cache_root() -> Path:
    """The root of gankit's cache (not created)."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gankit"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Writes ``tensors`` atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    """Reads a tensor file; None when it is missing or unreadable (then rebuild it)."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            names = f.keys()  # safe_open is not a mapping: `in f` does not iterate it
            tensors = {name: f.get_tensor(name) for name in names}
    except (OSError, SafetensorError, ValueError):
        return None
    return tensors, metadata
