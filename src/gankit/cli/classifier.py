"""``gankit classifier train|info``: the dataset classifier that class-aware metrics use."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "classifier",
        help="train or describe a dataset's classifier (for class-aware metrics)",
        description="The classifier that judges generated images by class (accuracy per label, "
        "class histogram, classifier IS and FID). It is trained once per dataset, size and "
        "channels, and cached under the gankit cache folder.",
    )
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = csub.add_parser("train", help="train it (or report the cached one)")
    train.add_argument("--epochs", type=float, help="passes over the training images (default 15)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--retrain", action="store_true", help="train again even if cached")
    info = csub.add_parser("info", help="accuracy and cache folder of the cached classifier")
    for q in (train, info):
        q.add_argument("dataset", metavar="DATASET", help="built-in name, image folder or .csv")
        q.add_argument("--img-size", type=int, default=0, help="side in pixels (0 = native)")
        q.add_argument("--channels", type=int, default=0, help="1 or 3 (0 = native)")
        q.add_argument("--data-dir", default="", help="where to look first for IDX files")
    train.set_defaults(func=run_train)
    info.set_defaults(func=run_info)


def _data_config(args: argparse.Namespace):
    from gankit.config import DataConfig

    return DataConfig(
        dataset=args.dataset, data_dir=args.data_dir, img_size=args.img_size, channels=args.channels
    )


def _describe(info: dict) -> str:
    accuracy = info.get("test_accuracy")
    shown = "n/a" if accuracy is None else f"{accuracy:.2%}"
    return (
        f"test accuracy {shown} on {info.get('test_images', '?')} images "
        f"({info.get('test_split', 'test split')}); {info.get('epochs')} epochs "
        f"in {info.get('seconds', 0) / 60:.1f} min, {info.get('img_size')} px, "
        f"{info.get('channels')} channel(s), {info.get('num_classes')} classes"
    )


def run_train(args: argparse.Namespace) -> int:
    from gankit.errors import GankitError
    from gankit.metrics.classifier import DEFAULT_EPOCHS, load_or_train_classifier
    from gankit.training import pick_device

    epochs = DEFAULT_EPOCHS if args.epochs is None else args.epochs
    if epochs <= 0:
        raise GankitError(f"--epochs must be more than 0, got {epochs}")
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    model = load_or_train_classifier(
        _data_config(args),
        device=pick_device(args.device),
        retrain=args.retrain,
        epochs=epochs,
        progress=progress,
    )
    state = "trained" if lines else "cached (use --retrain to train again)"
    print(f"classifier for {args.dataset}: {state}")
    print(f"  {_describe(model.info)}")
    print(f"  cached in {model.info['cache_dir']}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from gankit.metrics.classifier import cached_classifier_info

    folder, info = cached_classifier_info(_data_config(args))
    if info is None:
        print(f"no classifier cached for {args.dataset} (would be in {folder})")
        print(f"  train one with: gankit classifier train {args.dataset}")
        return 1
    print(f"classifier for {args.dataset}: {info.get('arch')}, created {info.get('created')}")
    print(f"  {_describe(info)}")
    print(f"  classes: {', '.join(info.get('class_names', []))}")
    print(f"  cached in {folder}")
    return 0
