"""Seconds per training step of every preset a reproduction trains, for ``gankit reproduce --list``.

Each preset is trained once through ``gankit.training.train`` in a scratch folder with
the preset's own model, objective, critic steps and batch size, for about ``TARGET_S``
seconds (its time budget, checked after every step), flushing its log every step; the
time of a step comes from the logged images per second (measured by the loop, so
set-up, sample grids and checkpoints are not counted). The figure is the mean time of
the steps after the first (warm-up); a preset whose first step already fills the
budget gets that step's time. Data the machine may lack is replaced by data of the same
shape - MNIST by Fashion-MNIST (28 px grey), an image folder by generated
``shapes`` at the preset's size, unlabelled - which costs the same per step.
``flowers-gan|dcgan|wgan|wgan-gp`` are the ``shapes-*`` networks, batch and image
size exactly, so each pair is timed once and both get the figure.

Also measured: the Inception network (seconds per image, FID's cost) and one step
of the dataset classifier (batch 128 at 28 px; seed 001's checks).

Prints one line per figure and, at the end, the dicts to paste into
``gankit/reproduce/costs.py``. Torch uses every core unless ``--threads`` says otherwise,
as ``gankit reproduce`` does (the stored figures say how many they were taken with):

    python bench/reproduce_cost.py                 # every preset (< 3 minutes on a 2-core CPU)
    python bench/reproduce_cost.py --preset fashion-gan mnist-wgan
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch

from gankit import training
from gankit.config import Config
from gankit.presets import PRESETS, get_preset

TARGET_S = 2.0  # each preset trains for about this long (at least one step)
_TWINS = [(f"flowers-{m}", f"shapes-{m}") for m in ("gan", "dcgan", "wgan", "wgan-gp")]
SAME_AS = dict(_TWINS) | {b: a for a, b in _TWINS}  # whichever of a pair is timed first


def bench_config(name: str) -> Config:
    """The preset with stand-in data of the same shape and a log flush every step."""
    cfg = get_preset(name)
    data = cfg.data
    if data.dataset == "mnist":
        data = dataclasses.replace(data, dataset="fashion-mnist")
    elif data.dataset == "":  # an image folder: generated shapes, at the preset's size
        data = dataclasses.replace(
            data, dataset="shapes", shapes_count=max(512, cfg.train.batch_size), use_labels=False
        )
    train = dataclasses.replace(cfg.train, device="cpu", steps=100_000, max_minutes=TARGET_S / 60)
    log = dataclasses.replace(cfg.log, log_every=1, sample_every=0, checkpoint_every=0)
    return dataclasses.replace(cfg, data=data, train=train, log=log)


def seconds_per_step(name: str) -> float:
    """Mean seconds of the steps after the first, from the logged img/s (cumulative)."""
    cfg = bench_config(name)
    with tempfile.TemporaryDirectory() as tmp:
        run = training.train(cfg, Path(tmp) / "run", progress=False).run
        records = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    per_step = cfg.train.batch_size * cfg.train.n_critic  # images shown to D per G step
    # img_per_s is over the session so far: the elapsed time at a step = images / rate.
    elapsed = {r["step"]: r["step"] * per_step / r["img_per_s"] for r in records}
    last = max(elapsed)
    return elapsed[1] if last == 1 else (elapsed[last] - elapsed[1]) / (last - 1)


def inception_seconds_per_image(n: int = 16) -> float:
    from gankit.metrics import inception

    net = inception.load_network("cpu")
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8)
    inception.inception_features([images[:4]], "cpu", 4, net=net)  # warm-up
    start = time.perf_counter()
    inception.inception_features([images], "cpu", n, net=net)
    return (time.perf_counter() - start) / n


def classifier_seconds_per_step(steps: int = 5) -> float:
    import torch.nn.functional as F

    from gankit.metrics.classifier import Classifier

    model = Classifier(img_size=28, channels=1, num_classes=10)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    start = 0.0
    for i in range(steps + 1):
        if i == 1:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="*", help="presets to time (default: all but fashion)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    names = args.preset or [n for n in PRESETS.names() if n != "fashion"]
    figures: dict[str, float] = {}
    start = time.perf_counter()
    for name in names:
        if SAME_AS.get(name) in figures:
            figures[name] = figures[SAME_AS[name]]
        else:
            figures[name] = seconds_per_step(name)
        print(f"{name:24s} {figures[name]:8.4f} s/step", flush=True)
    inception_s = inception_seconds_per_image()
    classifier_s = classifier_seconds_per_step()
    print(f"{'inception':24s} {inception_s:8.4f} s/image")
    print(f"{'classifier':24s} {classifier_s:8.4f} s/step (batch 128, 28 px)")
    print(f"total {time.perf_counter() - start:.0f} s\n")
    print("SECONDS_PER_STEP = {")
    for name, s in figures.items():
        print(f'    "{name}": {s:.4g},')
    print("}")
    print(f"INCEPTION_SECONDS_PER_IMAGE = {inception_s:.3g}")
    print(f"CLASSIFIER_SECONDS_PER_STEP = {classifier_s:.3g}")


if __name__ == "__main__":
    main()
