"""One ingredient on or off per row, at equal training minutes: the README's ablation table.

A row's minutes are not timed while it trains, because on a shared machine a
timed run measures the neighbours as much as the recipe. Instead, three phases:

1. ``train``: each row trains on the CPU to a step cap, with a G snapshot every
   250 steps. CPU training is deterministic, so its images do not depend on load;
   rows may train side by side.
2. ``speed``: each row's trainer runs 1/8 of its step cap alone on the machine, and its
   images/s is recorded (``speed.json``, with the load). Run this phase on a quiet
   machine; it takes a few minutes.
3. ``eval``: each row is evaluated (``bench/quality.py --run RUN --checkpoint S``)
   at the last snapshot S within what M quiet minutes at its measured speed reach.

    python bench/ablation.py train --minutes 5      # every row, to its step cap
    python bench/ablation.py speed                  # alone on the machine
    python bench/ablation.py eval --minutes 5 --n 2000
    python bench/ablation.py print --minutes 5      # the table so far

Each phase skips what it has already done, so an interrupted table continues.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SNAPSHOT_EVERY = 250
SPEED_SHARE = 8  # the speed run trains 1/8 of the row's step cap
BATCH = 64  # the base preset's batch; a row that changes it says so in ROWS

# name -> (what changes against the base preset, overrides, step cap for 5 minutes)
ROWS: dict[str, tuple[str, list[str], int]] = {
    "base": ("the preset as it is", [], 9000),
    "no-ttur": ("one rate: lr_g = lr_d = 2e-4", ["lr_g=2e-4", "lr_d=2e-4"], 9000),
    "no-ema": ("no EMA of G", ["ema_halflife_images=0"], 9000),
    "r1": ("R1 gamma 0.1, lazy every 16", ["r1_gamma=0.1", "r1_every=16"], 9000),
    "diffaug": ("DiffAugment translation,cutout", ["diffaug=translation,cutout"], 9000),
    "wide": ("width 64 for G and D", ["g_width=64", "d_width=64"], 4000),
    "resnet": ("arch resnet (SNGAN-style residual nets)", ["arch=resnet"], 1000),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("phase", choices=("train", "speed", "eval", "print"))
    p.add_argument("--base", default="fashion", help="preset every row starts from")
    p.add_argument("--minutes", type=float, default=5.0, help="quiet training minutes per row")
    p.add_argument("--n", type=int, default=2000, help="generated and real images per side")
    p.add_argument("--only", default="", help="comma list of row names (default: all)")
    p.add_argument("--threads", type=int, default=0, help="train: torch threads (0: torch's)")
    p.add_argument("--root", type=Path, default=Path("runs/ablation"), help="run folders go here")
    args = p.parse_args()
    names = [n for n in args.only.split(",") if n] or list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        print(f"error: unknown rows {unknown}; known: {', '.join(ROWS)}", file=sys.stderr)
        return 2
    args.root.mkdir(parents=True, exist_ok=True)
    for name in names:
        if args.phase == "train":
            train(args, name)
        elif args.phase == "speed":
            speed(args, name)
        elif args.phase == "eval":
            evaluate(args, name)
    if args.phase in ("eval", "print"):
        print(table(args, names))
    return 0


def _run(args, name: str) -> Path:
    return args.root / f"{args.base}-{name}"


def _flags(overrides: list[str]) -> list[str]:
    flags = []
    for item in overrides:
        key, value = item.split("=", 1)
        flags += [f"--{key.replace('_', '-')}", value]
    return flags


def train(args, name: str) -> None:
    _, overrides, cap = ROWS[name]
    run = _run(args, name)
    done = run / "checkpoints" / f"step_{cap:07d}"
    if done.exists():
        return
    verb = (
        ["--resume", str(run)]
        if (run / "config.yaml").exists()
        else [
            "--preset",
            args.base,
            "--out",
            str(run),
            "--steps",
            str(cap),
            "--checkpoint-every",
            str(SNAPSHOT_EVERY),
            *_flags(overrides),
        ]
    )
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    print(f"== train {name} to step {cap}", flush=True)
    subprocess.run([sys.executable, "-m", "gankit", "train", *verb, "--quiet"], env=env, check=True)


def _speeds(args) -> dict:
    path = args.root / "speed.json"
    return json.loads(path.read_text()) if path.exists() else {}


def speed(args, name: str) -> None:
    speeds = _speeds(args)
    if name in speeds:
        return
    _, overrides, cap = ROWS[name]
    steps = cap // SPEED_SHARE
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        command = [
            sys.executable,
            "-m",
            "gankit",
            "train",
            "--preset",
            args.base,
            "--out",
            str(run),
            "--steps",
            str(steps),
            "--quiet",
            *_flags(overrides),
        ]
        load_before = os.getloadavg()[0]
        subprocess.run(command, check=True)
        last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        img_per_s = [r["img_per_s"] for r in last if "img_per_s" in r][-1]
    speeds[name] = {
        "img_per_s": img_per_s,
        "steps": steps,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    (args.root / "speed.json").write_text(json.dumps(speeds, indent=1) + "\n")
    print(f"== speed {name}: {img_per_s:,.0f} img/s (load {load_before:.2f})", flush=True)


def equal_minutes_step(args, name: str) -> int:
    """The last snapshot within what ``--minutes`` quiet minutes reach at the row's speed."""
    img_per_s = _speeds(args)[name]["img_per_s"]
    batch = next(
        (int(o.split("=")[1]) for o in ROWS[name][1] if o.startswith("batch_size=")), BATCH
    )
    steps = int(img_per_s * 60 * args.minutes / batch)
    cap = ROWS[name][2]
    if steps > cap:
        raise SystemExit(
            f"error: row {name} reaches step {steps} in {args.minutes:g} min, "
            f"beyond its cap {cap}: raise the cap in ROWS and train again"
        )
    return max(SNAPSHOT_EVERY, steps // SNAPSHOT_EVERY * SNAPSHOT_EVERY)


def evaluate(args, name: str) -> None:
    step = equal_minutes_step(args, name)
    out = _quality(args, name, step)
    if out.exists():
        return
    print(f"== eval {name} at step {step}", flush=True)
    subprocess.run(
        [
            sys.executable,
            "bench/quality.py",
            "--run",
            str(_run(args, name)),
            "--n",
            str(args.n),
            "--checkpoint",
            str(step),
            "--json",
            str(out),
        ],
        check=True,
    )


def _quality(args, name: str, step: int) -> Path:
    return _run(args, name) / f"quality-step{step}-n{args.n}.json"


def table(args, names: list[str]) -> str:
    lines = [
        (
            f"| row | change | img/s alone | steps in {args.minutes:g} min | FID | KID | floor "
            "| accuracy | command |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    speeds = _speeds(args)
    for name in names:
        if name not in speeds:
            continue
        step = equal_minutes_step(args, name)
        path = _quality(args, name, step)
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        what, overrides, _ = ROWS[name]
        command = " ".join(["gankit train --preset", args.base, *_flags(overrides)])
        kid = f"{r['kid']:.4f}" if r.get("kid") is not None else "-"
        acc = f"{r['accuracy']:.1%}" if r.get("accuracy") is not None else "-"
        lines.append(
            f"| {name} | {what} | {speeds[name]['img_per_s']:,.0f} | {step:,} | {r['fid']:.1f} "
            f"| {kid} | {r['floor']:.1f} | {acc} | `{command}` |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
