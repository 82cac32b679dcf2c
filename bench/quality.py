"""Image quality after M minutes of training: one table row, by the standard protocol.

Trains PRESET for --minutes on the current machine (a fresh run folder, kept; the
preset's own length does not apply unless --set steps=... or epochs=... gives one),
then evaluates its last checkpoint with ``gankit.evaluate``: FID and KID of N
generated images (label-balanced for a conditional run: image i has label
i mod classes, seed i) against N test images (a seeded subset of the test split,
its features cached), the real-vs-real floor at the same N (N train images
against the same test images: what N images can show at best), and the
dataset classifier's accuracy on the generated images, overall and per label.

Prints one markdown row and writes it as JSON to RUN/quality.json. A run
interrupted with Ctrl-C keeps its folder and says how to continue.

    python bench/quality.py fashion --minutes 10 --n 2000
    python bench/quality.py fashion --minutes 10 --n 2000 --set arch=resnet --set d_norm=spectral
    python bench/quality.py --run runs/quality/fashion-... --n 10000   # evaluate an existing run
    python bench/quality.py --run RUN --checkpoint 4000 --json q.json  # one of its snapshots

Write the load (``uptime``) beside any figure: minutes of training mean little
on a machine that was doing something else at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import gankit
from gankit.errors import GankitError
from gankit.training import Interrupted

COLUMNS = (
    "preset",
    "minutes",
    "steps",
    "images",
    "fid",
    "kid",
    "floor",
    "accuracy",
    "train_s",
    "eval_s",
    "load",
)
# A step count no run reaches: with it, --minutes alone says how long a run trains.
UNTIL_THE_CLOCK = 10**9


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("preset", nargs="?", default="fashion", help="preset to train (default fashion)")
    p.add_argument("--minutes", type=float, default=10.0, help="training time budget")
    p.add_argument("--n", type=int, default=2000, help="generated and real images per side")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--out", type=Path, help="run folder (default runs/quality/PRESET-TIME)")
    p.add_argument("--run", type=Path, help="evaluate this run instead of training one")
    p.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="any config field"
    )
    p.add_argument("--seed", type=int, default=0, help="generation seeds and real subsets")
    p.add_argument("--checkpoint", default="latest", help="with --run: the step to evaluate")
    p.add_argument("--json", type=Path, help="write the row here (default RUN/quality.json)")
    args = p.parse_args()
    run = args.run or args.out
    run = run or Path("runs/quality") / f"{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        row = measure(args, run)
    except GankitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        run = e.result.run.path
        print(f"\ninterrupted at step {e.result.step}; the run is kept in {run}", file=sys.stderr)
        print(f"continue: gankit train --resume {run} --max-minutes M", file=sys.stderr)
        print(f"then:     python bench/quality.py --run {run} --n {args.n}", file=sys.stderr)
        return 128 + signal.SIGINT
    except KeyboardInterrupt:  # during the evaluation: the trained run is complete
        print("\ninterrupted while evaluating; the run folder is kept", file=sys.stderr)
        print(f"evaluate it: python bench/quality.py --run {run} --n {args.n}", file=sys.stderr)
        return 128 + signal.SIGINT
    print(table([row]))
    return 0


def measure(args: argparse.Namespace, run: Path) -> dict:
    """Trains (unless --run) and evaluates; returns the row, also written to RUN/quality.json."""
    overrides = dict(_pair(item) for item in args.set)
    train_s, minutes = 0.0, None
    if args.run is None:
        if not {"steps", "epochs"} & overrides.keys():
            overrides["steps"] = UNTIL_THE_CLOCK  # the minutes end the run, not the preset's epochs
        cfg = gankit.experiment(args.preset, **overrides, max_minutes=args.minutes)
        print(f"training {args.preset} for {args.minutes:g} min -> {run}", flush=True)
        start = time.monotonic()
        result = gankit.train(cfg, run, device=args.device)
        train_s, minutes = time.monotonic() - start, args.minutes
    print(f"evaluating {run}: {args.n:,} generated vs {args.n:,} test images", flush=True)
    start = time.monotonic()
    report = gankit.evaluate(
        run,
        n=args.n,
        kid=True,
        floor=True,
        memorization=0,
        device=args.device,
        seed=args.seed,
        checkpoint=args.checkpoint,
    )
    eval_s = time.monotonic() - start
    row = _row(report, args, minutes, train_s, eval_s)
    if args.run is None:
        row["stopped"] = result.stopped
    (args.json or Path(run) / "quality.json").write_text(json.dumps(row, indent=1) + "\n")
    return row


def _row(report: dict, args, minutes, train_s: float, eval_s: float) -> dict:
    last = report["checkpoints"][-1]
    cfg = report["config"]
    return {
        "preset": cfg["preset"] or "custom",
        "overrides": args.set,
        "run": report["run"],
        "minutes": minutes,
        "steps": last["step"],
        "images": last.get("images_seen"),
        "n": args.n,
        "fid": last["fid"],
        "kid": last.get("kid_mean"),
        "kid_std": last.get("kid_std"),
        "floor": (report.get("floor") or {}).get("fid"),
        "floor_of": (report.get("floor") or {}).get("of"),
        "accuracy": last.get("accuracy"),
        "per_label_accuracy": last.get("per_class_accuracy"),
        "train_s": round(train_s, 1),
        "eval_s": round(eval_s, 1),
        "load": os.getloadavg()[0],
        "protocol": report["protocol"],
    }


def table(rows: list[dict]) -> str:
    """A markdown table of rows (with the per-label accuracies on a second line each)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |")
    for row in rows:
        per_label = row.get("per_label_accuracy") or {}
        if per_label:
            shown = ", ".join(f"{k} {v:.0%}" for k, v in per_label.items())
            lines.append(f"\n{row['preset']} per label: {shown}")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pair(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise SystemExit(f"--set takes FIELD=VALUE, got {item!r}")
    key, value = item.split("=", 1)
    return key.replace("-", "_"), value


if __name__ == "__main__":
    sys.exit(main())
