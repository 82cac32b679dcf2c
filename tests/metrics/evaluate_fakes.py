"""Stand-ins and tiny runs shared by the evaluation tests (metrics, CLI, scores).

Two runs trained for a few steps on 96 generated shapes, made once per test session;
the stand-in feature network; a dataset classifier trained for one epoch at width 4.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from gankit import training
from gankit.metrics import classes, inception
from gankit.metrics import classifier as clf
from tests.support import fake_inception_network, tiny_config

FAKE = fake_inception_network()
N = 16  # the shapes test split at shapes_count 96 holds 16 images
REAL_LOAD_NETWORK = inception.load_network
REAL_TRAIN_CLASSIFIER = clf.train_classifier


def tiny_classifier(data, test, **kwargs):
    return REAL_TRAIN_CLASSIFIER(
        data, test, **{**kwargs, "epochs": 1, "width": 4, "batch_size": 32}
    )


def install_fakes(monkeypatch) -> None:
    """The stand-in network; classifiers (the dataset's, TSTR's) train one epoch at width 4."""
    monkeypatch.setattr(inception, "load_network", lambda device="cpu": FAKE)
    monkeypatch.setattr(clf, "train_classifier", tiny_classifier)
    monkeypatch.setattr(classes, "train_classifier", tiny_classifier)


def tiny_runs(factory) -> dict[str, Path]:
    """A conditional run (checkpoints at steps 2 and 4) and an unconditional one (step 2).

    Trained once per session (both test files use them); tests copy a run before
    writing into it.
    """
    root = factory.getbasetemp() / "tiny-eval-runs"
    runs = {"conditional": root / "conditional", "unconditional": root / "unconditional"}
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        log = {"log_every": 2, "sample_every": 0, "checkpoint_every": 2}
        for name, model, steps in (
            ("conditional", {}, 4),
            ("unconditional", {"conditioning": "none"}, 2),
        ):
            cfg = tiny_config(model=model, train={"steps": steps}, log=log)
            training.train(cfg, runs[name], progress=False)
        (root / "done").touch()
    return runs


def self_contained(page: str) -> bool:
    """Every src= is an embedded PNG, and nothing refers outside the page."""
    sources = re.findall(r'src="([^"]*)"', page)
    no_links = not re.search(r"href=|url\(|@import|<script|<link", page)
    return (
        bool(sources) and all(s.startswith("data:image/png;base64,") for s in sources) and no_links
    )
