"""``gankit generate``: images from a trained run, by label and seed."""

from __future__ import annotations

import argparse
from pathlib import Path

from gankit.errors import GankitError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate images from a trained run",
        description="Generate images from a run: a grid (FILE.png) or one PNG per image (DIR). "
        "Conditional runs without --label give one row per label.",
    )
    p.add_argument("run", type=Path, metavar="RUN", help="run folder made by gankit train")
    p.add_argument("--checkpoint", default="latest", help="'latest' or a step number")
    p.add_argument("--label", help="class index or name (e.g. 5, sandal, ankle-boot)")
    p.add_argument("--n", type=int, default=6, help="images (per label when no --label is given)")
    p.add_argument("--seed", type=int, default=0, help="image i uses seed SEED+i")
    p.add_argument(
        "--out",
        type=Path,
        help="FILE.png for a grid, or a folder for one PNG each (default: RUN/generated/...png)",
    )
    p.add_argument(
        "--interpolate",
        action="store_true",
        help="a latent walk of --n steps from --seed to --to-seed",
    )
    p.add_argument("--to-seed", type=int, help="end of the walk (default: --seed + 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from gankit.images import save_grid, save_png
    from gankit.trained import TrainedGenerator
    from gankit.training import pick_device

    if not 1 <= args.n <= 1024:
        raise GankitError(f"--n must be between 1 and 1024, got {args.n}")
    if args.seed < 0:
        raise GankitError("--seed must be 0 or more")
    model = TrainedGenerator.open(args.run, args.checkpoint, str(pick_device(args.device)))
    names = model.class_names
    label = model.label(args.label) if args.label is not None else None

    if args.interpolate:
        images = model.interpolate(args.n, seed=args.seed, to_seed=args.to_seed, label=label)
        y = torch.full((args.n,), label or 0) if model.conditional else None
        nrow, what = args.n, "interpolation"
    elif model.conditional and label is None:
        images = model.per_label(args.n, seed=args.seed)
        y = torch.arange(len(names)).repeat_interleave(args.n)
        nrow, what = args.n, "per-label"
    else:
        images = model.generate(args.n, labels=label, seed=args.seed)
        y = torch.full((args.n,), label) if label is not None else None
        nrow, what = min(args.n, 8), names[label] if label is not None else "samples"

    out = args.out or model.run.path / "generated" / f"step{model.step}_{what}_seed{args.seed}.png"
    if out.suffix.lower() == ".png":
        save_grid(images, out, nrow=nrow)
        print(f"wrote {len(images)} images ({what}, step {model.step}) to {out}")
    else:
        for i, image in enumerate(images):
            tag = f"{names[int(y[i])]}_" if y is not None and names else ""
            save_png(
                image, out / f"{tag}seed{args.seed + i if not args.interpolate else i:05d}.png"
            )
        print(f"wrote {len(images)} PNG files ({what}, step {model.step}) to {out}/")
    return 0
