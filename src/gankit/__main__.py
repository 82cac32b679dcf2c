"""``python -m gankit`` (and ``torchrun -m gankit``)."""

from gankit.cli import entry

entry()
