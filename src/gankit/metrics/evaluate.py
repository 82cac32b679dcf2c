"""Evaluating a run: which checks apply to it, and computing them per checkpoint.

Owns the orchestration behind ``gankit evaluate``. From the run's config it
decides, before any slow work, what applies - FID always (KID, PRDC when asked)
against the run's dataset split at the run's size and channels; with labels, the
dataset classifier's checks, and accuracy against intended labels only for a
conditional G (seed 001); the memorisation share (seed 003's neighbours) - and
why the rest does not. Then it computes the numbers for one checkpoint or all
(seeds 001/003's FID-per-checkpoint tables), draws the pictures of the best one
(lowest FID), and has ``report`` write the folder. No maths and no formats here.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gankit.checkpoint import load_generator, read_state
from gankit.config import Config, to_dict
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.images import save_grid
from gankit.metrics import METRICS, classes, classifier, inception, latent, report
from gankit.metrics import memorization as mem
from gankit.metrics.features import FeatureSet
from gankit.metrics.prdc import K_DC
from gankit.metrics.score import Scorer, reference_scorer, reference_source, reference_split
from gankit.metrics.sources import DatasetSource, subset_indices
from gankit.options import EvalOptions  # declared apart, torch-free, for the CLI's flags
from gankit.run import Run, open_run
from gankit.sampling import generate, label_grid_inputs, noise, sample_batches

NEIGHBOURS = 4  # nearest real images shown next to each generated one
QUANTILE = 0.05  # memorisation threshold: closer than 95% of unseen real images come
EMBED_MAX = 1000  # points in the t-SNE map of generated images: exact t-SNE is O(N^2)
SAMPLES_PER_LABEL, SAMPLES_UNCONDITIONAL, INTERPOLATION_STEPS = 8, 64, 8
CLASS_CHECKS = ("class histogram", "classifier IS", "classifier FID", "embedding by class")
LABEL_CHECKS = ("class accuracy", "confusion matrix", "train-on-synthetic accuracy")
try:
    VERSION = importlib.metadata.version("gankit")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "unknown"


@dataclasses.dataclass
class Plan:
    """What will be computed for a run, and why the rest will not (decided before any work)."""

    steps: list[int]
    reference: str  # the split FID is measured against
    classes: bool
    conditional: bool
    metric_names: list[str]  # keys of ``METRICS``
    not_applicable: dict[str, str]  # check -> why it cannot apply to this run
    not_computed: dict[str, str]  # check -> how to ask for it


@dataclasses.dataclass
class _Context:
    """Everything the checkpoints of one evaluation share."""

    run: Run
    cfg: Config
    opts: EvalOptions
    plan: Plan
    say: Callable[[str], None]
    scorer: Scorer  # the reference split's features, and the network
    floor: DatasetSource  # real train images for the real-vs-real floor
    classifier: Any = None
    classifier_fid: classes.ClassifierFID | None = None
    splits: tuple | None = None  # labelled (train, test), for train-on-synthetic
    train_images: torch.Tensor | None = None  # the train split, for pixel-space neighbours
    ref_images: torch.Tensor | None = None  # the reference images behind ``real``'s rows

    @property
    def real(self) -> FeatureSet:
        return self.scorer.real


@dataclasses.dataclass
class _Keep:
    """What the pictures of one checkpoint need; kept for the best one only."""

    step: int
    G: torch.nn.Module
    row: dict
    embed: tuple | None = None  # classifier features, labels
    neighbours: tuple | None = None  # generated images, {picture file: (what, real, indices)}


def evaluate_run(
    path: str | Path, opts: EvalOptions, *, out=None, say: Callable[[str], None] | None = None
) -> tuple[dict, Path]:
    """Evaluates the run at ``path`` and writes its report folder.

    ``out`` (default RUN/eval) is replaced as a whole at the end, so an error anywhere
    leaves the previous one as it was; ``say`` gets one progress line at a time.
    Returns (the result as written to metrics.json, the report folder).
    """
    run = open_run(path)
    cfg = run.config()
    plan = plan_evaluation(run, cfg, opts)
    out = Path(out) if out is not None else run.path / "eval"
    report.check_output_folder(out, report.EVAL_FILE)
    say = say or (lambda line: None)
    ctx = _prepare(run, cfg, opts, plan, say)
    floor = None
    if opts.floor:  # real train images vs the reference, same N: the best attainable FID
        say(f"floor: Inception features of {ctx.floor.describe(opts.n)} ...")
        train = ctx.scorer.features(ctx.floor, opts.n)
        floor = {"fid": ctx.scorer.compare(train)["fid"], "of": train.description}
    rows, keep = [], None
    for step in plan.steps:
        row, kept = _evaluate_checkpoint(ctx, step)
        rows.append(row)
        keep = kept if keep is None or row["fid"] < keep.row["fid"] else keep
    tstr = None
    if opts.tstr:
        say(f"train-on-synthetic: two classifiers on images of step {keep.step} (slow) ...")
        tstr = classes.synthetic_training_accuracy(
            keep.G, *ctx.splits, seed=opts.seed, device=opts.device
        )
        tstr["step"] = keep.step
    with report.staged_folder(out) as folder:
        ctx.say(f"pictures of step {keep.step} ...")
        result = _result(ctx, rows, keep, _pictures(ctx, keep, rows, folder), floor, tstr)
        report.write_eval_report(result, folder)
    return result, out


def plan_evaluation(run: Run, cfg: Config, opts: EvalOptions) -> Plan:
    """Checks the options against the run and decides what applies; raises on bad input."""
    _check_options(opts)
    labelled = bool(cfg.data.class_names)
    if opts.classes and not labelled:
        raise GankitError(
            f"--classes: the run's dataset {cfg.data.dataset} has no labels, so there is no "
            "classifier to judge it - drop --classes"
        )
    with_classes = labelled if opts.classes is None else opts.classes
    conditional = cfg.model.conditioning != "none"
    if opts.tstr and not (with_classes and conditional):
        raise GankitError("--tstr needs a conditional run on a labelled dataset - drop --tstr")
    reference = opts.reference or reference_split(cfg.data)
    names = ["fid"] + ["kid"] * opts.kid + ["prdc"] * opts.prdc
    na, nc = _skipped(opts, labelled, with_classes, conditional)
    ckpt = run.resolve_checkpoint(opts.checkpoint if opts.checkpoint != "all" else "latest")
    steps = run.checkpoint_steps() if opts.checkpoint == "all" else [read_state(ckpt)["step"]]
    return Plan(steps, reference, with_classes, conditional, names, na, nc)


def _check_options(opts: EvalOptions) -> None:
    if opts.n < 2:
        raise GankitError(f"--n must be at least 2 (a covariance needs two images), got {opts.n}")
    if opts.prdc and opts.n <= K_DC:
        raise GankitError(
            f"--prdc needs more than {K_DC} images ({K_DC}-nearest-neighbour balls), "
            f"got --n {opts.n} - use --n {K_DC + 1} or more"
        )
    for flag, lowest in (("batch_size", 1), ("seed", 0), ("memorization", 0)):
        if getattr(opts, flag) < lowest:
            name = flag.replace("_", "-")
            raise GankitError(f"--{name} must be at least {lowest}, got {getattr(opts, flag)}")


def _skipped(opts: EvalOptions, labelled: bool, with_classes: bool, conditional: bool):
    """(not applicable: why, not computed: how to ask for it) for the checks left out."""
    na: dict[str, str] = {}
    nc: dict[str, str] = {}
    if not labelled:
        na |= dict.fromkeys(CLASS_CHECKS + LABEL_CHECKS, "the run's dataset has no labels")
    elif not with_classes:
        nc |= dict.fromkeys(CLASS_CHECKS + LABEL_CHECKS, "turned off (--no-classes)")
    elif not conditional:
        na |= dict.fromkeys(LABEL_CHECKS, "the run is unconditional (no intended labels)")
    elif not opts.tstr:
        nc["train-on-synthetic accuracy"] = "slow (trains two classifiers) - add --tstr"
    asks = (
        ("KID", opts.kid, "add --kid"),
        ("precision/recall/density/coverage", opts.prdc, "add --prdc"),
        ("memorisation", opts.memorization, "turned off (--memorization 0)"),
        ("real-vs-real FID floor", opts.floor, "slow on a CPU - add --floor"),
    )
    return na, nc | {name: how for name, asked, how in asks if not asked}


def _prepare(run: Run, cfg: Config, opts: EvalOptions, plan: Plan, say) -> _Context:
    """Checks the sizes, then loads the network, the reference features and the classifier."""
    reference = reference_source(cfg.data, plan.reference, opts.seed)
    # Against train itself, the floor takes another seed's subset (it may overlap: optimistic).
    floor = DatasetSource(cfg.data, "train", opts.seed + (plan.reference == "train"))
    for source in (reference, floor) if opts.floor else (reference,):
        source.check(opts.n)  # before anything slow
    say(f"reference: Inception features of {reference.describe(opts.n)} ...")
    scorer = reference_scorer(reference, opts.n, batch_size=opts.batch_size, device=opts.device)
    ctx = _Context(run, cfg, opts, plan, say, scorer, floor)
    say("reference features " + ("read from the cache" if ctx.real.cache == "hit" else "computed"))
    if plan.classes:
        info = classifier.cached_classifier_info(cfg.data)[1]
        if info is None:
            say(f"dataset classifier: training one on {cfg.data.dataset} first (minutes) ...")
        progress = say if info is None else None  # one line per epoch while it trains
        ctx.classifier = classifier.load_or_train_classifier(
            cfg.data, device=opts.device, progress=progress
        )
        ctx.splits = classifier.labelled_splits(cfg.data)[:2]  # (train, test): test is real side
        ctx.classifier_fid = classes.ClassifierFID(ctx.classifier, ctx.splits[1].images)
    if opts.memorization:
        images, chosen = reference.images, subset_indices(len(reference.images), opts.n, opts.seed)
        ctx.ref_images = images if chosen is None else images[torch.from_numpy(chosen)]
        ctx.train_images = load_dataset(dataclasses.replace(cfg.data, split="train")).images
    return ctx


def _evaluate_checkpoint(ctx: _Context, step: int) -> tuple[dict, _Keep]:
    """The numbers of one checkpoint (one table row), and what its pictures would need."""
    o = ctx.opts
    G, _, state = load_generator(ctx.run, step, o.device)
    row = {"step": int(state["step"])}
    row |= {key: state[key] for key in ("epoch", "images_seen") if key in state}
    ctx.say(f"step {step}: computing Inception features for {o.n:,} generated images ...")
    fake = ctx.scorer.generated(G, o.n, f"run {ctx.run.path} step {step}")
    row |= ctx.scorer.compare(fake, ctx.plan.metric_names)
    keep = _Keep(row["step"], G, row)
    if ctx.plan.classes:
        row |= _class_metrics(ctx, G, keep)
    if o.memorization:
        row |= _memorization(ctx, G, fake, keep)
    accuracy = f", accuracy {row['accuracy']:.2%}" if "accuracy" in row else ""
    ctx.say(f"step {step}: FID {row['fid']:.2f}{accuracy}")
    return row, keep


def _class_metrics(ctx: _Context, G: torch.nn.Module, keep: _Keep) -> dict:
    o = ctx.opts
    ctx.say(f"step {keep.step}: classifying {o.n:,} generated images with the dataset classifier")
    pred = classes.classify_generated(ctx.classifier, G, o.n, seed=o.seed, batch_size=o.batch_size)
    histogram = classes.class_histogram(pred.logits)
    is_mean, is_std = classes.classifier_inception_score(torch.softmax(pred.logits.double(), 1))
    row = {
        "classifier_fid": ctx.classifier_fid.from_features(pred.features),
        "classifier_is_mean": is_mean,
        "classifier_is_std": is_std,
        "class_entropy": histogram.entropy,
        "class_counts": histogram.counts,
    }
    # Coloured by the intended label for a conditional G, else by the classifier's verdict.
    labels = pred.labels if pred.labels is not None else pred.logits.argmax(1)
    keep.embed = (pred.features[:EMBED_MAX], labels[:EMBED_MAX])
    if ctx.plan.conditional:
        acc = classes.class_accuracy(pred.logits, pred.labels)
        row["accuracy"] = acc.overall
        row["per_class_accuracy"] = dict(zip(ctx.cfg.data.class_names, acc.per_class))
        row["confusion"] = acc.confusion.tolist()
    return row


def _memorization(ctx: _Context, G: torch.nn.Module, fake: FeatureSet, keep: _Keep) -> dict:
    """Memorisation shares of the first M generated images, in Inception and pixel space."""
    m, seed = min(ctx.opts.memorization, ctx.opts.n), ctx.opts.seed
    # The first M of the N images, whose Inception features are the first M rows.
    images = next(sample_batches(G, m, seed=seed, batch_size=m))[0]
    train = ctx.train_images.flatten(1).float()

    def check(generated, real):
        k = min(NEIGHBOURS, len(real))
        return mem.memorization_check(generated, real, k=k, quantile=QUANTILE, seed=seed)

    feats, pixels = check(fake.features[:m], ctx.real.features), check(images.flatten(1), train)
    inception_space = (f"{ctx.plan.reference} images in Inception space", ctx.ref_images)
    pixel_space = ("train images in pixel space", ctx.train_images)
    keep.neighbours = (
        images,
        {  # picture file: (what, real images, [M, k] indices into them)
            "neighbours_inception.png": (*inception_space, feats.indices),
            "neighbours_pixels.png": (*pixel_space, pixels.indices),
        },
    )
    return {
        "memorization_inception": feats.share,
        "memorization_pixels": pixels.share,
        "memorization_thresholds": {"inception": feats.threshold, "pixels": pixels.threshold},
    }


def _pictures(ctx: _Context, keep: _Keep, rows: list[dict], folder: Path) -> list[dict]:
    """Draws the pictures of checkpoint ``keep`` into ``folder``; returns [{file, title}]."""
    G, seed, pictures = keep.G, ctx.opts.seed, []

    def add(file: str, title: str) -> Path:
        pictures.append({"file": file, "title": title})
        return folder / file

    if G.conditional:
        z, y = label_grid_inputs(G.num_classes, SAMPLES_PER_LABEL, G.z_dim, first_seed=seed)
        images, nrow, what = generate(G, z, y), SAMPLES_PER_LABEL, "one row per label"
    else:
        z = noise(range(seed, seed + SAMPLES_UNCONDITIONAL), G.z_dim)
        images, nrow, what = generate(G, z), 8, f"seeds {seed}-{seed + len(z) - 1}"
    save_grid(images, add("samples.png", f"samples of step {keep.step} ({what})"), nrow=nrow)
    if len(rows) > 1:
        report.plot_fid_vs_step({"FID": rows}, add("fid_vs_step.png", "FID and accuracy per step"))
    if ctx.plan.classes:
        points = latent.embed_2d(keep.embed[0], "tsne", seed=seed)  # a picture, not a metric
        by = "intended label" if G.conditional else "predicted class"
        names = ctx.cfg.data.class_names
        pictures += report.class_pictures(folder, keep.row, names, points, keep.embed[1], by)
    walk = "one row per label" if G.conditional else "one row"
    path = add("interpolation.png", f"latent walk from seed {seed} to {seed + 1}, {walk}")
    latent.save_interpolation_grid(G, path, steps=INTERPOLATION_STEPS, seed_a=seed, seed_b=seed + 1)
    if keep.neighbours is not None:
        pictures += report.neighbour_pictures(folder, *keep.neighbours)
    return pictures


def _result(ctx: _Context, rows: list[dict], keep: _Keep, pictures: list, floor, tstr) -> dict:
    best = min(rows, key=lambda r: r["fid"])
    return {
        "format": report.EVAL_FORMAT,
        "version": report.EVAL_VERSION,
        "run": str(ctx.run.path),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "config": to_dict(ctx.cfg),
        "protocol": _protocol(ctx),
        "checkpoints": rows,
        "best": {"step": best["step"], "fid": best["fid"]},
        "pictures_step": keep.step,
        "pictures": pictures,
        "floor": floor,
        "tstr": tstr,
        "not_applicable": ctx.plan.not_applicable,
        "not_computed": ctx.plan.not_computed,
    }


def _protocol(ctx: _Context) -> dict:
    """How the numbers were measured: what every report states beside them."""
    o, net, real = ctx.opts, ctx.scorer.net, ctx.real
    labels = ", balanced labels (i mod classes)" if ctx.plan.conditional else ""
    protocol = {
        "network": net.name,
        "network_sha1": net.sha1,
        "resize": inception.RESIZE,
        "preprocess": inception.PREPROCESS,
        "n_generated": o.n,
        "generated": f"image i from seed {o.seed} + i{labels}",
        "reference": {
            "dataset": ctx.cfg.data.dataset,
            "split": ctx.scorer.reference.split,
            "n": o.n,
        },
        "seed": o.seed,
        "metrics": {name: METRICS.get(name).description for name in ctx.plan.metric_names},
        "device": str(o.device),
        "gankit_version": VERSION,
    }
    protocol["reference"] |= {"description": real.description, "cache": real.cache}
    if ctx.classifier is not None:
        keys = ("arch", "test_accuracy", "test_split", "test_images", "epochs", "cache_dir")
        protocol["classifier"] = {key: ctx.classifier.info.get(key) for key in keys}
        protocol["classifier"]["fid_real_images"] = ctx.classifier_fid.n_real
    if o.memorization:
        train = f"{ctx.cfg.data.dataset}:train, {len(ctx.train_images):,} images"
        protocol["memorization"] = {"generated": min(o.memorization, o.n), "quantile": QUANTILE}
        protocol["memorization"] |= {"inception_against": real.description, "pixels_against": train}
    return protocol
