"""gankit: train, sample and evaluate GANs on image datasets.

The public API, the same steps the ``gankit`` command runs::

    import gankit

    result = gankit.train("fashion", out="runs/fashion", max_minutes=10)
    model = gankit.load("runs/fashion")                  # "latest", "best" or a step
    bags = model.generate(8, labels="bag", seed=0)       # uint8 [8, 1, 28, 28]
    gankit.to_pil(bags)[0].save("bag.png")
    gankit.fid("fashion-mnist:test", "runs/fashion", n=1000)["fid"]
    gankit.evaluate("runs/fashion", n=1000)              # writes runs/fashion/eval/

``__all__`` is the contract; everything else is internal and may change. Names
are loaded on first use, so ``import gankit`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "train": "gankit.api",
    "resume": "gankit.api",
    "load": "gankit.api",
    "fid": "gankit.api",
    "evaluate": "gankit.api",
    "experiment": "gankit.api",
    "TrainedGenerator": "gankit.trained",
    "to_pil": "gankit.trained",
    "Config": "gankit.config",
    "GankitError": "gankit.errors",
    "presets": "gankit.presets",
}

__all__ = [
    "Config",
    "GankitError",
    "TrainedGenerator",
    "evaluate",
    "experiment",
    "fid",
    "load",
    "presets",
    "resume",
    "to_pil",
    "train",
]

if TYPE_CHECKING:
    from gankit import presets
    from gankit.api import evaluate, experiment, fid, load, resume, train
    from gankit.config import Config
    from gankit.errors import GankitError
    from gankit.trained import TrainedGenerator, to_pil


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gankit' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"gankit.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
