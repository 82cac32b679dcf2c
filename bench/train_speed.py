"""Training speed: gankit's trainer against a bare loop over the same model.

For each preset, two measurements on the current device, each in its own
process (so peak memory is per measurement):

- trainer: ``gankit.training.train`` for --steps steps with the preset's own
  logging, sampling and checkpoint intervals, plus one final sample grid and
  checkpoint (so maintenance is over-counted for short runs, never hidden);
- bare: the same G, D, objective, optimisers and batch size, forward /
  backward / optimiser step over pre-loaded tensors, nothing else.

Prints real images/s (images shown to D), the trainer's overhead over the
bare loop, the time per Fashion-MNIST epoch, and peak memory.

    python bench/train_speed.py                       # the default `fashion` preset
    python bench/train_speed.py --preset fashion-dcgan mnist-wgan-gp --steps 200
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def measure(preset: str, mode: str, steps: int, device: str) -> dict:
    from gankit import config as config_io
    from gankit import training
    from gankit.presets import get_preset

    cfg = config_io.override(get_preset(preset), {"steps": steps, "device": device})
    if not cfg.data.dataset:
        cfg = config_io.override(cfg, {"dataset": "shapes"})  # folder presets: stand-in colour data
    if mode == "trainer":
        with tempfile.TemporaryDirectory() as tmp:
            result = training.train(cfg, Path(tmp) / "run", progress=False)
        # result.seconds spans the loop and its maintenance; set-up (data, models) is excluded.
        images, seconds = result.images_seen, result.seconds
    else:
        images, seconds = _bare(cfg, steps)
    return {
        "preset": preset,
        "mode": mode,
        "img_per_s": images / seconds,
        "seconds": seconds,
        "images": images,
        "n_train": _n_train(cfg),
        "peak_mb": _peak_mb(device),
    }


def _bare(cfg, steps: int) -> tuple[int, float]:
    from gankit.images import to_float
    from gankit.training.setup import pick_device, prepare
    from gankit.training.state import build_state

    cfg, data = prepare(cfg)
    s = build_state(cfg, data, pick_device(cfg.train.device))
    B, n = cfg.train.batch_size, len(s.images)
    cond = s.conditional

    def step():
        for k in range(cfg.train.n_critic):
            idx = torch.randint(n, (B,), device=s.device)
            real, y = to_float(s.images[idx]), (s.labels[idx] if cond else None)
            z = torch.randn(B, cfg.model.z_dim, device=s.device)
            with torch.set_grad_enabled(k == cfg.train.n_critic - 1):
                fake = s.G(z, y)
            d_loss, _ = s.loss.d_loss(s.D, real, fake.detach(), y)
            s.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            s.opt_d.step()
            s.loss.constrain(s.D)
        s.D.requires_grad_(False)
        g_loss, _ = s.loss.g_loss(s.D, fake, y)
        s.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        s.opt_g.step()
        s.D.requires_grad_(True)

    step()  # warm-up, as the trainer's first step is inside its timing
    _sync(s.device)
    t0 = time.perf_counter()
    for _ in range(steps - 1):
        step()
    _sync(s.device)
    return (steps - 1) * B * cfg.train.n_critic, time.perf_counter() - t0


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _n_train(cfg) -> int:
    from gankit.data import load_dataset

    return len(load_dataset(cfg.data).images)


def _peak_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", nargs="+", default=["fashion"])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest is kept")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--one", nargs=2, metavar=("PRESET", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.steps, args.device)))
        return
    print(
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.steps} steps per measurement, best of {args.repeat}"
    )
    print(
        f"{'preset':<18} {'trainer img/s':>13} {'bare img/s':>11} {'overhead':>9} "
        f"{'epoch':>9} {'peak MB (trainer/bare)':>23}"
    )
    for preset in args.preset:
        rows: dict[str, dict] = {}
        # Alternate the two, --repeat times each, and keep each one's fastest run:
        # the one least disturbed by whatever else the machine was doing.
        for _ in range(args.repeat):
            for mode in ("bare", "trainer"):
                cmd = [sys.executable, __file__, "--one", preset, mode]
                cmd += ["--steps", str(args.steps), "--device", args.device]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                if mode not in rows or row["img_per_s"] > rows[mode]["img_per_s"]:
                    rows[mode] = row
        t, b = rows["trainer"], rows["bare"]
        overhead = b["img_per_s"] / t["img_per_s"] - 1
        epoch = t["n_train"] / t["img_per_s"]
        print(
            f"{preset:<18} {t['img_per_s']:>13.0f} {b['img_per_s']:>11.0f} {overhead:>8.1%} "
            f"{epoch:>8.1f}s {t['peak_mb']:>11.0f} / {b['peak_mb']:<9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
