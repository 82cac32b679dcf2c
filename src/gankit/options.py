"""What ``gankit evaluate`` and ``gankit reproduce`` are asked for: their option sets.

Plain data declared with ``config.knob``, so each field's meaning is stated once
and the commands' flags are generated from it. Kept apart from the code that
uses them (``metrics.evaluate``, ``reproduce.runner``, which re-export them) and
free of torch, so building the command line does not load torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.config import knob

LUCIC = "lucic-fashion"  # the reproduction whose objectives are searched with `gankit tune`


@dataclass
class EvalOptions:
    """What ``gankit evaluate`` computes; each field is one of its flags."""

    checkpoint: str = knob(
        "latest",
        "'latest', a step number, or 'all': one table row per checkpoint",
        aliases=("--checkpoints",),  # `--checkpoints all` reads naturally too
    )
    n: int = knob(10_000, "generated images per checkpoint, and reference images")
    reference: str = knob(
        "",
        "dataset split to compare with (default: test; train for an image folder)",
        choices=("test", "train"),
    )
    kid: bool = knob(False, "also the Kernel Inception Distance")
    prdc: bool = knob(False, "also precision, recall, density and coverage")
    classes: bool | None = knob(
        None,
        "class checks with the dataset's classifier (default: when the dataset is labelled)",
    )
    memorization: int = knob(
        16, "generated images checked for near-copies of real ones; 0 = off", metavar="M"
    )
    tstr: bool = knob(
        False, "train-on-synthetic / test-on-real accuracies (conditional runs; slow)"
    )
    floor: bool = knob(
        False, "also the FID of N real train images vs the reference: the best attainable (slow)"
    )
    batch_size: int = knob(64, "images per network call")
    # A name on the command line (resolved there, `auto` first); a torch.device in the library.
    device: Any = knob("cpu", "auto, cpu, cuda, cuda:N or mps", cli_default="auto")  # noqa: RUF009
    seed: int = knob(0, "generated image i from seed SEED+i; real subsets; KID subsets")


@dataclass
class Options:
    """What ``gankit reproduce`` was asked for; each field is one of its flags."""

    scale: float = knob(
        1.0,
        "train this fraction of the document's epochs/iterations, e.g. 0.01 (FID N scales "
        "too, down to a floor)",
    )
    device: str = knob("auto", "auto, cpu, cuda, cuda:N or mps")
    out: Path | None = knob(None, "output folder (default: reproductions/DOC[-xSCALE])")  # noqa: RUF009
    fid_n: int = knob(
        0,
        "generated images per FID; 0 = the document's N x scale, at least 1000",
        metavar="N",
    )
    only: str = knob(
        "",
        "run only these of the document's experiments (names as --list shows them), "
        "comma-separated; the others are reported as skipped",
        metavar="A,B",
    )
    flowers: str = knob("", "folder of Oxford-102 flowers", metavar="DIR")
    art: str = knob("", "folder of abstract art (seed 002)", metavar="DIR")
    data_dir: str = knob("", "where to look first for (Fashion-)MNIST files")
    trials: int = knob(0, f"{LUCIC}: search trials per objective; 0 = the paper's 100")
    objectives: str = knob(
        "",
        f"{LUCIC}: the objectives to search, comma-separated (default: every one gankit has)",
        metavar="A,B",
    )
    reruns: int = knob(
        0,
        f"{LUCIC}: train each objective's best setting K more times (seeds +1..K) and report "
        "FID mean ± sd over them, the paper's statistic; 0 = off, at most 100",
        metavar="K",
    )
    progress: bool = knob(True, "a progress bar while training (on a terminal)", flag="--quiet")
