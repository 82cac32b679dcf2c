"""The source documents' experiment sets as data: what each reproduction trains, where
it is evaluated, and every number the document reported there.

Owns ``DOCUMENTS`` (name -> ``Document``) and ``find_document``, which also accepts a
document's bare number (``003``). Each experiment is one existing preset (see
``gankit.presets``) trained to the document's evaluation points, in the document's
unit: epochs (000, 001, 002, 004) or iterations = generator steps (003). The numbers
are copied from the tables and text of each source document (its ``title``); ``None``
marks a point where the document gives no number. No torch here: ``--list`` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gankit.errors import GankitError
from gankit.registry import unknown_name_message

STANDARD_N = 10_000  # FID's usual sample count (Heusel et al.; the Fashion-MNIST test split)


@dataclass(frozen=True)
class Point:
    """An evaluation point: ``at`` epochs or steps (document's, unscaled) and its FID there."""

    at: float
    fid: float | None = None  # the document's FID at this point; None = not reported


@dataclass(frozen=True)
class Experiment:
    """One trained model of a document: a preset, its data, and where it is evaluated.

    Attributes:
        preset: the gankit preset (also the run folder's name under the output folder).
        row: what the document calls the model (a row of its table).
        table: the report table the row belongs to (the document's table, e.g. "MNIST").
        data: fashion-mnist | mnist | shapes | flowers | art; flowers and art are
            image folders the user gives (``--flowers``, ``--art``).
        unit: epochs | steps (the document's "iterations" are generator steps).
        points: evaluation points in ``unit``; the last one ends the training.
        note: what the document said in words, where it gave no number.
        reported: other numbers the document gave for it, by figure name
            (``seconds_per_epoch``, ``human_error_rate``).
    """

    preset: str
    row: str
    table: str
    data: str
    unit: str
    points: tuple[Point, ...]
    note: str = ""
    reported: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.preset


@dataclass(frozen=True)
class Document:
    """A source document's experiment set.

    Attributes:
        name: the DOC argument (``003-four-gans``); ``number`` is its bare form.
        fid_n: generated images per FID in the document (10,000 where it does not say).
        fid_protocol: what the document says about how its FID was measured.
        class_checks: seed 001's classifier checks on the last checkpoint (accuracy on
            real and generated images, class histogram of 1,000, real + synthetic).
        reported: document-level numbers (001's accuracies, in %).
        notes: what else the document said that the report should repeat.
    """

    name: str
    number: str
    title: str
    experiments: tuple[Experiment, ...]
    fid_n: int = STANDARD_N
    fid_protocol: str = "not stated"
    class_checks: bool = False
    reported: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _epochs(*ats: float) -> tuple[Point, ...]:
    return tuple(Point(at) for at in ats)


def _fids(ats: tuple[float, ...], fids: tuple[float, ...]) -> tuple[Point, ...]:
    return tuple(Point(at, fid) for at, fid in zip(ats, fids, strict=True))


_D000 = Document(
    name="000-fashion",
    number="000",
    title="Fashion image generation: four models on Fashion-MNIST",
    experiments=(
        Experiment(
            "fashion-gan",
            "Basic GAN (MLP)",
            "Fashion-MNIST",
            "fashion-mnist",
            "epochs",
            _epochs(80, 100),
            note="images got worse from epoch 80 to 100",
        ),
        Experiment(
            "fashion-cgan", "cGAN", "Fashion-MNIST", "fashion-mnist", "epochs", _epochs(100)
        ),
        Experiment(
            "fashion-wgan",
            "WGAN",
            "Fashion-MNIST",
            "fashion-mnist",
            "epochs",
            _epochs(100),
            note="judged the best by eye",
        ),
        Experiment(
            "fashion-wgan-gp",
            "WGAN-GP",
            "Fashion-MNIST",
            "fashion-mnist",
            "epochs",
            _epochs(200, 250),
            note="200 epochs, then resumed from the saved model for 50 more",
        ),
    ),
    fid_protocol="no FID: the models were judged by eye from sample grids",
    notes=("The document reports no numbers; gankit adds the standard FID at its epochs.",),
)

_D001 = Document(
    name="001-cgan",
    number="001",
    title="Conditional GAN with evaluation (Fashion-MNIST)",
    experiments=(
        Experiment(
            "fashion-cgan-slow",
            "cGAN",
            "Fashion-MNIST",
            "fashion-mnist",
            "epochs",
            _fids((10, 50, 100, 150, 200), (123.59, 82.66, 64.59, 54.88, 50.62)),
        ),
    ),
    fid_protocol="test set vs generated images; N, resize and network not stated",
    class_checks=True,
    reported={"accuracy_real": 92.15, "accuracy_generated": 85.41, "accuracy_augmented": 79.0},
    notes=(
        "Class distribution of 1,000 generated samples: 'balanced with low error' (a figure).",
        "The classifier failed on shirt, coat and pullover (a confusion matrix).",
    ),
)

_D002 = Document(
    name="002-dcgan",
    number="002",
    title="DCGAN on Fashion-MNIST and abstract art (PyTorch)",
    experiments=(
        Experiment(
            "fashion-dcgan",
            "DCGAN",
            "Fashion-MNIST",
            "fashion-mnist",
            "epochs",
            _epochs(42, 50),
            note="clearest images near epoch 42, slightly noisier after",
            reported={"seconds_per_epoch": 0.5},
        ),
        Experiment(
            "art-dcgan-128",
            "DCGAN, 128 px",
            "Abstract art",
            "art",
            "epochs",
            _epochs(200),
            note="'far exceeded expectations' (by eye)",
            reported={"seconds_per_epoch": 30.0},
        ),
    ),
    fid_protocol="no FID: judged by eye, with loss and real/fake score curves",
    notes=("Seconds per epoch were measured on a Google Colab GPU.",),
)


def _d003_experiments() -> tuple[Experiment, ...]:
    steps3, steps4 = (10_000, 20_000, 30_000), (10_000, 20_000, 30_000, 40_000)
    fids = {  # Tables 4-1 to 4-6 of the dissertation
        "mnist": ((114, 91, 85), (10, 7, 8), (11, 8, 6), (8, 6, 6)),
        "shapes": ((346, 314, 314), (269, 294, 242), (278, 272, 256), (195, 112, 109)),
        "flowers": (
            (331, 341, 345, 353),
            (144, 102, 90, 79),
            (272, 364, 386, 363),
            (139, 120, 115, 104),
        ),
    }
    human = {  # human error rates in %, section 4
        "mnist": (5.56, 44.44, 52.78, 72.22),
        "shapes": (0.0, 13.89, 5.56, 19.44),
        "flowers": (0.0, 27.78, 0.0, 11.11),
    }
    tables = {"mnist": "MNIST", "shapes": "NLVR (gankit: shapes)", "flowers": "Oxford-102 flowers"}
    models = (("gan", "Vanilla GAN"), ("dcgan", "DCGAN"), ("wgan", "WGAN"), ("wgan-gp", "WGAN-GP"))
    out = []
    for data, table in tables.items():
        steps = steps4 if data == "flowers" else steps3
        for i, (model, row) in enumerate(models):
            out.append(
                Experiment(
                    f"{data}-{model}",
                    row,
                    table,
                    data,
                    "steps",
                    _fids(steps, fids[data][i]),
                    reported={"human_error_rate": human[data][i]},
                )
            )
    return tuple(out)


_D003 = Document(
    name="003-four-gans",
    number="003",
    title="Four GANs on three datasets (Keras dissertation)",
    experiments=_d003_experiments(),
    fid_n=5_000,
    fid_protocol="5,000 generated images; the real side, resize and network not stated",
    notes=(
        (
            "NLVR's geometric-shape boxes are not available; gankit's generated `shapes` "
            "(coloured shapes at 64 px) stand in for them, so that table compares unlike data."
        ),
        "The abstract gives NLVR's best FID as 94; its table (used here) says 109.",
        (
            "Human error rates come from a questionnaire; gankit's web quiz (`gankit serve`) "
            "runs the same test with people, so it is not measured here."
        ),
    ),
)

_D004 = Document(
    name="004-flowers-mlp",
    number="004",
    title="Random image generator: MLP GAN on Oxford-102 flowers",
    experiments=(
        Experiment(
            "flowers-mlp",
            "MLP GAN",
            "Oxford-102 flowers",
            "flowers",
            "epochs",
            _epochs(250, 500),
            note="no metric: its authors named the lack of IS/FID a weakness",
        ),
    ),
    fid_protocol="no FID (named by the document as a weakness)",
)

DOCUMENTS: dict[str, Document] = {d.name: d for d in (_D000, _D001, _D002, _D003, _D004)}


# Lucic et al. (2018), "Are GANs Created Equal? A Large-Scale Study" (NeurIPS): the
# Fashion-MNIST column of their best-FID table, searched with `gankit tune`.
@dataclass(frozen=True)
class Objective:
    """One row of Lucic et al.'s table: a gankit objective (or one it lacks) and the FID."""

    loss: str  # gankit's objective name (its preset is lucic-fashion-<loss>)
    row: str  # the paper's name for it
    paper_fid: float | None  # best FID on Fashion-MNIST in the paper; None = not in it
    missing: str = ""  # why gankit does not have it


LUCIC_NAME = "lucic-fashion"
LUCIC_TITLE = "Lucic et al. 2018, 'Are GANs Created Equal?': the Fashion-MNIST column"
LUCIC_EPOCHS, LUCIC_TRIALS, LUCIC_TRAIN_IMAGES = 20, 100, 60_000
BEGAN_MISSING = (
    "not implemented: BEGAN's discriminator is an auto-encoder scored by its reconstruction "
    "error, balanced by a control variable k_t updated every step - a D that outputs images "
    "and a stateful objective, where gankit's D outputs one logit per image and its "
    "objectives are stateless"
)
LUCIC_OBJECTIVES = (
    Objective("minimax", "MM GAN", 29.6),
    Objective("ns", "NS GAN", 26.5),
    Objective("lsgan", "LSGAN", 30.7),
    Objective("wgan", "WGAN", 21.5),
    Objective("wgan-gp", "WGAN GP", 24.5),
    Objective("dragan", "DRAGAN", 27.7),
    Objective("began", "BEGAN", 22.9, missing=BEGAN_MISSING),
    Objective("hinge", "hinge (gankit's; not in the paper)", None),
)
LUCIC_PROTOCOL = (
    "InfoGAN-style networks, batch 64, 20 epochs; FID of 10,000 generated vs the 10,000 "
    "test images, grey tiled to 3 channels; per objective the best FID of 100 settings "
    "drawn at random from a wide range (Adam learning rate 1e-5..1e-2 log, beta1 0..1, "
    "1..5 D steps, batch norm in D or not, clip 1e-3..1 log, lambda 0.1..100 log)"
)


def lucic_space(loss: str) -> dict[str, dict]:
    """Lucic et al.'s wide search range (compare_gan's params.py) as a gankit tune space.

    The paper shares one learning rate and one beta1 between G and D; gankit's config
    has one per network, so both are searched over the same range.
    """
    space: dict[str, dict] = {}
    for net in ("g", "d"):
        space[f"lr_{net}"] = {"dist": "loguniform", "low": 1e-5, "high": 1e-2}
        # Adam needs beta1 < 1: the paper's [0, 1] stops just short of it.
        space[f"beta1_{net}"] = {"dist": "uniform", "low": 0.0, "high": 0.99}
    space["n_critic"] = {"dist": "int", "low": 1, "high": 5}
    space["d_norm"] = {"dist": "categorical", "choices": ["batch", "none"]}
    if loss == "wgan":
        space["clip_value"] = {"dist": "loguniform", "low": 1e-3, "high": 1.0}
    if loss in ("wgan-gp", "dragan"):
        space["gp_weight"] = {"dist": "loguniform", "low": 0.1, "high": 100.0}
    return space


def check_scale(scale: float) -> None:
    """--scale multiplies epochs and iterations: it must be above 0."""
    if not scale > 0:
        raise GankitError(f"--scale must be above 0 - got {scale:g}, try 0.01 for a quick look")


def find_document(
    name: str, extra: tuple[str, ...] = (), aliases: dict[str, str] | None = None
) -> Document | str:
    """The document named ``name`` (or its bare number); a name in ``extra`` (or an alias
    of one) is returned as that name.

    Raises:
        GankitError: an unknown name, listing the valid ones (with a "did you mean").
    """
    key = name.strip().lower()
    key = (aliases or {}).get(key, key)
    if key in extra:
        return key
    for doc in DOCUMENTS.values():
        if key in (doc.name, doc.number):
            return doc
    valid = [*DOCUMENTS, *extra]
    numbers = ", ".join(d.number for d in DOCUMENTS.values())
    message = unknown_name_message("document", name, valid)
    raise GankitError(f"{message} (or a bare number: {numbers}) - see gankit reproduce --list")
