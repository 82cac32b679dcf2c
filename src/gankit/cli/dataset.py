"""``gankit dataset show|info``: look at a dataset before training on it."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dataset",
        help="show or describe a dataset",
        description="Show or describe a dataset (a built-in name, an image "
        "folder or a Kaggle-style .csv file).",
    )
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = dsub.add_parser("show", help="a grid with one row per label")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--per-label", type=int, default=10, help="images per row")
    show.add_argument("--out", type=Path, required=True, help="grid PNG to write")
    info = dsub.add_parser("info", help="counts per label, size, channels, where the files are")
    info.add_argument("name", metavar="NAME")
    for q in (show, info):
        q.add_argument("--split", default="train", choices=["train", "test"])
        q.add_argument("--data-dir", default="", help="where to look first for IDX files")
        q.add_argument("--img-size", type=int, default=0, help="resize to this (0 = native)")
        q.add_argument("--no-labels", action="store_true", help="image folders: ignore subfolders")
    show.set_defaults(func=run_show)
    info.set_defaults(func=run_info)


def _load(args):
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    cfg = DataConfig(
        dataset=args.name,
        data_dir=args.data_dir,
        split=args.split,
        img_size=args.img_size,
        use_labels=not args.no_labels,
    )
    return load_dataset(cfg)


def run_show(args: argparse.Namespace) -> int:
    import torch

    from gankit.errors import GankitError
    from gankit.images import save_grid

    if not 1 <= args.per_label <= 100:
        raise GankitError(f"--per-label must be between 1 and 100, got {args.per_label}")
    data = _load(args)
    k = args.per_label
    if data.labels is None:
        picked, rows = data.images[: k * k], f"{k} rows"
    else:
        # The first k images of every label, one row per label; a short row is padded white.
        blank = torch.full_like(data.images[0], 255)
        cells, names = [], []
        for label, name in enumerate(data.class_names):
            idx = (data.labels == label).nonzero().flatten()[:k]
            if len(idx):
                cells += list(data.images[idx]) + [blank] * (k - len(idx))
                names.append(name)
        picked, rows = torch.stack(cells), ", ".join(names)
    save_grid(picked, args.out, nrow=k)
    print(f"wrote {args.out} ({len(picked)} images; rows: {rows})")
    return 0


def run_info(args: argparse.Namespace) -> int:
    import torch

    data = _load(args)
    n, c, h, w = data.images.shape
    print(f"dataset:  {data.name} ({args.split} split)")
    print(f"source:   {data.source}")
    print(
        f"images:   {n:,} of {h}x{w}, {c} channel{'s' if c > 1 else ''} ({'RGB' if c == 3 else 'grey'})"
    )
    print(f"memory:   {data.images.numel() / 1e6:.1f} MB as uint8")
    if data.labels is None:
        print("labels:   none")
        return 0
    counts = torch.bincount(data.labels, minlength=len(data.class_names)).tolist()
    print(f"labels:   {len(data.class_names)}")
    width = max(map(len, data.class_names))
    for i, (name, count) in enumerate(zip(data.class_names, counts)):
        print(f"  {i:>3}  {name.ljust(width)}  {count:,}")
    return 0
