"""Training speed: gankit's trainer against a bare loop over the same model.

For each preset, two measurements on the current device, each in its own
process (so peak memory is per measurement):

- trainer: ``gankit.training.train`` for --steps steps with the preset's own
  logging, sampling and checkpoint intervals, plus one final sample grid and
  checkpoint (so maintenance is over-counted for short runs, never hidden);
- bare: the same G, D, objective, optimisers and batch size, forward /
  backward / optimiser step over pre-loaded tensors, and the preset's EMA of G
  (part of its update rule, so not counted as overhead), nothing else.

Prints real images/s (images shown to D), G steps/s, the trainer's overhead
over the bare loop, achieved GFLOP/s (matmul + conv FLOPs per image, see
``flops.py``, times img/s), the time per Fashion-MNIST epoch, and peak memory.

``--arch`` builds, in gankit, the exact architectures of common reference
implementations (same layers, widths, batch size, objective and image size)
and prints their img/s measured on this 2-core CPU beside ours:

For those, the reference scripts' own loops (``references.py``: their data loaders,
losses, ``.item()`` calls and update order) are timed in the same run on the same
machine, and the ratio is against them; their figures measured on another, faster CPU
are printed for context only. Every process first runs a few untimed steps, so
one-time costs (lazy imports inside torch, kernel caches) are not counted.

    python bench/train_speed.py                       # the default `fashion` preset
    python bench/train_speed.py --preset fashion-dcgan mnist-wgan-gp --steps 200
    python bench/train_speed.py --arch examples-dcgan64 pytorch-gan-mlp pytorch-gan-wgangp
    python bench/train_speed.py --arch pytorch-gan-mlp --set compile=on   # any config field
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
from flops import step_flops_per_image

# Reference implementations, rebuilt in gankit: (base preset, overrides, the img/s the
# reference script reached on another 2-core CPU with AVX-512, torch 2.13, batch 64).
_MLP = {
    "arch": "mlp",
    "g_hidden": "128,256,512,1024",
    "d_hidden": "512,256",
    "g_norm": "batch",
    "d_norm": "none",
    "g_act": "leaky_relu",
    "d_act": "leaky_relu",
    "batch_size": 64,
    "lr_g": 2e-4,
    "lr_d": 2e-4,
    "beta1_g": 0.5,
    "beta1_d": 0.5,
    "z_dim": 100,
}
ARCHS = {
    # pytorch/examples dcgan/main.py: nz 100, ngf = ndf = 64, 1 channel, 64x64
    "examples-dcgan64": (
        "fashion-dcgan",
        {"img_size": 64, "g_width": 64, "d_width": 64, "batch_size": 64, "z_dim": 100},
        95.7,
    ),
    # PyTorch-GAN implementations/gan/gan.py
    "pytorch-gan-mlp": ("fashion-gan", {**_MLP, "loss": "ns"}, 3495.0),
    # PyTorch-GAN implementations/wgan_gp/wgan_gp.py: lambda 10, 5 critic steps
    "pytorch-gan-wgangp": ("fashion-gan", {**_MLP, "loss": "wgan-gp", "n_critic": 5}, 3014.0),
}


WARMUP_STEPS = 3  # untimed steps per process before the clock starts


def config_for(name: str, steps: int, device: str, settings: dict | None = None):
    from gankit import config as config_io
    from gankit.presets import get_preset

    base, overrides = (ARCHS[name][0], ARCHS[name][1]) if name in ARCHS else (name, {})
    overrides = {**overrides, **(settings or {}), "steps": steps, "device": device}
    return config_io.override(get_preset(base), overrides)


def measure(preset: str, mode: str, steps: int, device: str, settings: dict) -> dict:
    from gankit import config as config_io
    from gankit import training

    cfg = config_for(preset, steps, device, settings)
    if not cfg.data.dataset:
        cfg = config_io.override(cfg, {"dataset": "shapes"})  # folder presets: stand-in colour data
    flops = None
    if mode == "reference":
        from references import measure_reference

        images, seconds = measure_reference(preset, steps * cfg.train.n_critic, WARMUP_STEPS)
    elif mode == "trainer":
        _bare(cfg, 0)  # pays the process's one-time costs, as the other modes' warm-up does
        with tempfile.TemporaryDirectory() as tmp:
            result = training.train(cfg, Path(tmp) / "run", progress=False)
        # result.seconds spans the loop and its maintenance; set-up (data, models) is excluded.
        images, seconds = result.images_seen, result.seconds
    else:
        images, seconds, flops = _bare(cfg, steps)
    return {
        "flops_per_image": flops,
        "g_steps_per_s": images / seconds / (cfg.train.batch_size * cfg.train.n_critic),
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
    from gankit.training.fast import to_layout
    from gankit.training.setup import pick_device, prepare
    from gankit.training.state import build_state

    cfg, data = prepare(cfg)
    s = build_state(cfg, data, pick_device(cfg.train.device))
    B, n = cfg.train.batch_size, len(s.images)
    cond = s.conditional

    def step():
        for k in range(cfg.train.n_critic):
            idx = torch.randint(n, (B,), device=s.device)
            real = to_layout(to_float(s.images[idx]), s.fast)
            y = s.labels[idx] if cond else None
            z = torch.randn(B, cfg.model.z_dim, device=s.device)
            with torch.set_grad_enabled(k == cfg.train.n_critic - 1):
                fake = s.G_train(z, y)
            d_loss, _ = s.loss.d_loss(s.D_train, real, fake.detach(), y)
            s.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            s.opt_d.step()
            s.loss.constrain(s.D)
        s.D.requires_grad_(False)
        g_loss, _ = s.loss.g_loss(s.D_g, fake, y)
        s.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        s.opt_g.step()
        s.D.requires_grad_(True)
        if s.ema is not None:  # the preset's weight average is part of its update, not overhead
            s.ema.update()

    for _ in range(WARMUP_STEPS):  # one-time costs: lazy imports, kernel caches
        step()
    _sync(s.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(s.device)
    seconds = time.perf_counter() - t0
    labels = torch.zeros(2, dtype=torch.long) if cond else None
    flops = step_flops_per_image(s.G, s.D, cfg.train.n_critic, cfg.loss.loss == "wgan-gp", labels)
    return steps * B * cfg.train.n_critic, seconds, flops


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
    p.add_argument("--preset", nargs="*", default=None, help="presets (default: fashion)")
    p.add_argument(
        "--arch",
        nargs="*",
        default=[],
        choices=sorted(ARCHS),
        help="reference architectures rebuilt in gankit (their own loops timed beside)",
    )
    p.add_argument("--steps", type=int, default=500, help="timed G steps per measurement")
    p.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest is kept")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides for gankit"
    )
    p.add_argument("--one", nargs=2, metavar=("PRESET", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    settings = dict(kv.split("=", 1) for kv in args.set)
    if args.one:
        row = measure(args.one[0], args.one[1], args.steps, args.device, settings)
        print(json.dumps(row))
        return
    if args.preset is None:
        args.preset = [] if args.arch else ["fashion"]
    print(
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.steps} timed steps per measurement after {WARMUP_STEPS} untimed, "
        f"best of {args.repeat}" + (f", {' '.join(args.set)}" if args.set else "")
    )
    print(
        f"{'model':<20} {'img/s':>7} {'bare':>7} {'overhead':>8} {'G st/s':>7} {'GFLOP/s':>8} "
        f"{'epoch':>7} {'peak MB':>8} {'reference':>10} {'x ref':>6} {'(faster CPU)':>13}"
    )
    for name in [*args.preset, *args.arch]:
        rows: dict[str, dict] = {}
        modes = ("reference", "bare", "trainer") if name in ARCHS else ("bare", "trainer")
        # Alternate the modes, --repeat times each, and keep each one's fastest run:
        # the one least disturbed by whatever else the machine was doing.
        for _ in range(args.repeat):
            for mode in modes:
                cmd = [sys.executable, __file__, "--one", name, mode, "--steps", str(args.steps)]
                cmd += ["--device", args.device, "--set", *args.set]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                if mode not in rows or row["img_per_s"] > rows[mode]["img_per_s"]:
                    rows[mode] = row
        t, b = rows["trainer"], rows["bare"]
        overhead = b["img_per_s"] / t["img_per_s"] - 1
        gflops = b["flops_per_image"] * t["img_per_s"] / 1e9
        if "reference" in rows:
            ref = rows["reference"]["img_per_s"]
            ref_text = f"{ref:>10.1f} {t['img_per_s'] / ref:>5.2f}x {ARCHS[name][2]:>13.1f}"
        else:
            ref_text = f"{'-':>10} {'-':>6} {'-':>13}"
        print(
            f"{name:<20} {t['img_per_s']:>7.0f} {b['img_per_s']:>7.0f} {overhead:>7.1%} "
            f"{t['g_steps_per_s']:>7.1f} {gflops:>8.1f} {t['n_train'] / t['img_per_s']:>6.0f}s "
            f"{t['peak_mb']:>8.0f} {ref_text}",
            flush=True,
        )


if __name__ == "__main__":
    main()
