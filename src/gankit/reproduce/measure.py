"""The numbers a reproduction measures on its runs, and the store that keeps them.

Owns ``FidProtocol`` (what one FID means: N generated vs N real images of a split,
the standard TF-Inception network), ``fid_at`` and ``class_checks`` (seed 001's
classifier figures) on one checkpoint, and ``EvalStore``: the file
``RUN/reproduce.json`` in which every result is kept with the protocol it was
measured under, so that running a reproduction again reads it back instead of
recomputing it. The scoring is ``gankit.metrics.score``'s, the maths all live in
``gankit.metrics``; nothing is computed here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import torch

from gankit.checkpoint import load_generator
from gankit.config import DataConfig
from gankit.metrics import classes, classifier, inception
from gankit.metrics.report import json_safe
from gankit.metrics.score import reference_scorer, reference_source, reference_split
from gankit.reproduce.report import atomic_write
from gankit.run import Run

STORE_FILE, STORE_FORMAT, STORE_VERSION = "reproduce.json", "gankit-reproduce-evals", 1
HISTOGRAM_N = 1_000  # seed 001's class distribution of 1,000 generated samples
TSTR_EPOCHS = 5.0  # the augmentation experiment's classifier schedule at full scale
TSTR_MIN_IMAGES = 1_000  # generated images for it at small scales, at least


@dataclasses.dataclass(frozen=True)
class FidProtocol:
    """One FID's protocol: ``n`` generated images vs ``n_reference`` of ``split``.

    The network is the standard TF-Inception-v3 pool3 port (sha1 in ``network_sha1``),
    images resized to 299 bilinearly; image i is generated from seed ``seed`` + i.
    """

    n: int
    split: str  # the real side: test, or train for an image folder (it has no test split)
    n_reference: int
    network_sha1: str
    seed: int = 0

    def describe(self, dataset: str) -> str:
        return (
            f"{self.n:,} generated vs {self.n_reference:,} {dataset} {self.split} images, "
            f"{inception.NAME} (sha1 {self.network_sha1[:12]}), {inception.RESIZE}"
        )


def fid_protocol(data: DataConfig, n: int, seed: int = 0) -> FidProtocol:
    """The protocol for ``n`` generated images of a run on ``data`` (needs no network load)."""
    split = reference_split(data)
    size = reference_source(data, split, seed).size
    return FidProtocol(n, split, min(n, size), inception.network_file()[1], seed)


def fid_at(run: Run, step: int, data: DataConfig, proto: FidProtocol, device, say) -> dict:
    """Inception FID of the run's checkpoint ``step`` under ``proto``, with what was measured."""
    say(f"  FID at step {step:,}: {proto.describe(data.dataset)} ...")
    reference = reference_source(data, proto.split, proto.seed)
    scorer = reference_scorer(reference, proto.n_reference, device=device)
    G, _, state = load_generator(run, step, device)
    fid = scorer.score(G, proto.n, name=f"{run.path.name} step {step}")["fid"]
    say(f"  FID at step {step:,}: {fid:.2f}")
    return {
        "fid": fid,
        "epoch": state.get("epoch"),
        "elapsed_seconds": state.get("elapsed_seconds"),
        "reference": scorer.real.description,
    }


def class_checks(
    run: Run, step: int, data: DataConfig, n: int, scale: float, device, say
) -> dict[str, Any]:
    """Seed 001's classifier figures for checkpoint ``step`` of a conditional run.

    The dataset's cached classifier is used (trained and cached once, at full length,
    when absent); below full scale an absent one is trained for a scaled schedule and
    not cached, so a quick reproduction never leaves a weak classifier behind.
    """
    clf = _classifier(data, scale, device, say)
    G, _, _ = load_generator(run, step, device)
    say(f"  classifier checks at step {step:,}: {n:,} generated images ...")
    pred = classes.classify_generated(clf, G, n, seed=0)
    accuracy = classes.class_accuracy(pred.logits, pred.labels)
    histogram = classes.class_histogram(
        classes.classify_generated(clf, G, HISTOGRAM_N, seed=0).logits
    )
    train, test, _ = classifier.labelled_splits(data)
    n_tstr = round(len(train.images) * min(1.0, scale))
    n_tstr = min(len(train.images), max(TSTR_MIN_IMAGES, n_tstr))
    epochs = TSTR_EPOCHS * min(1.0, scale)
    say(f"  augmentation: classifiers on real + {n_tstr:,} generated images, {epochs:g} epochs ...")
    tstr = classes.synthetic_training_accuracy(
        G, train, test, n_generated=n_tstr, epochs=epochs, device=device
    )
    return {
        "accuracy_real": clf.info.get("test_accuracy"),
        "accuracy_generated": accuracy.overall,
        "accuracy_augmented": tstr["real_plus_synthetic"],
        "accuracy_synthetic_only": tstr["synthetic_only"],
        "class_counts": histogram.counts,
        "class_entropy": histogram.entropy,
        "confusion": accuracy.confusion.tolist(),
        "class_names": list(data.class_names),
        "n_generated": n,
        "tstr_generated": n_tstr,
        "tstr_epochs": epochs,
        "classifier": {k: clf.info.get(k) for k in ("arch", "epochs", "test_split", "cached")},
    }


def _classifier(data: DataConfig, scale: float, device, say) -> classifier.Classifier:
    _, info = classifier.cached_classifier_info(data)
    if info is not None or scale >= 1:
        if info is None:
            say(f"  training the {data.dataset} classifier once (cached for later runs) ...")
        model = classifier.load_or_train_classifier(data, device=device, progress=say)
        model.info["cached"] = True
        return model
    epochs = classifier.DEFAULT_EPOCHS * scale
    say(f"  training a {epochs:g}-epoch {data.dataset} classifier (--scale below 1: not cached)")
    train, test, split = classifier.labelled_splits(data)
    aug = classifier.default_augment(train.name)
    model, report = classifier.train_classifier(
        train, test, epochs=epochs, device=device, augment=aug
    )
    model.info = {**report, "test_split": split, "cached": False}
    return model


class EvalStore:
    """``RUN/reproduce.json``: results by (what, step), each with the protocol it used.

    A result is read back only when its protocol matches exactly; writes are atomic.
    """

    def __init__(self, run: Run):
        self.path = run.path / STORE_FILE
        self.records: list[dict] = []
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("format") == STORE_FORMAT:
                    self.records = list(data.get("records", []))
            except (OSError, ValueError, AttributeError):
                self.records = []  # damaged: measured again

    def get(self, what: str, step: int, protocol: dict) -> dict | None:
        for record in self.records:
            if (record["what"], record["step"], record["protocol"]) == (what, step, protocol):
                return record["value"]
        return None

    def get_or_compute(
        self, what: str, step: int, protocol: dict, compute: Callable[[], dict]
    ) -> tuple[dict, bool]:
        """(the value, whether it was read back rather than computed now)."""
        protocol = json.loads(json.dumps(protocol))  # as it reads back: lists, not tuples
        found = self.get(what, step, protocol)
        if found is not None:
            return found, True
        value = json_safe(compute())
        self.records = [
            r
            for r in self.records
            if (r["what"], r["step"], r["protocol"]) != (what, step, protocol)
        ]
        self.records.append({"what": what, "step": step, "protocol": protocol, "value": value})
        self._save()
        return value, False

    def _save(self) -> None:
        body = {"format": STORE_FORMAT, "version": STORE_VERSION, "records": self.records}
        atomic_write(self.path, json.dumps(body, indent=1, allow_nan=False) + "\n")


def device_name(device: torch.device) -> str:
    """The device in words, for the report: CPU threads or the GPU's name."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    return f"{device.type} ({torch.get_num_threads()} threads)"
