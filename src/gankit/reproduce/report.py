"""The reproduction report: the document's tables with the document's number and
gankit's in every cell, the protocols side by side, and what could not be run.

Owns REPORT.md and report.html in the output folder (written again after every
experiment, so a long reproduction shows its progress) and the pictures beside them.
It reads only the ``Outcome`` values the runner hands it and renders through
``gankit.metrics.report``'s blocks (Markdown + a self-contained HTML page).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit import durable
from gankit.errors import GankitError
from gankit.metrics import classes
from gankit.metrics import report as blocks_io
from gankit.reproduce.catalog import STANDARD_N, Document, Experiment

REPORT_MD, REPORT_HTML = "REPORT.md", "report.html"
NONE = "—"  # the side gives no number
LEGEND = (
    "Each cell: the document's number / gankit's. "
    f"{NONE}: no number; pending: not reached yet; skipped: its data is missing (see below)."
)


def write_report(doc: Document, outcomes: list, settings: dict, out: Path) -> Path:
    """Writes REPORT.md, report.html and their pictures into ``out``; returns REPORT.md."""
    blocks = document_blocks(doc, outcomes, settings, out)
    atomic_write(out / REPORT_MD, blocks_io.to_markdown(blocks))
    title = f"gankit reproduction of {doc.number}"
    atomic_write(out / REPORT_HTML, blocks_io.to_html(blocks, out, title))
    return out / REPORT_MD


def document_blocks(doc: Document, outcomes: list, settings: dict, out: Path) -> list:
    scale = settings["scale"]
    head = (
        f"gankit reproduce {doc.name} --scale {scale:g}, on {settings['device']}; "
        f"written {settings['written']}. {LEGEND}"
    )
    blocks: list = [("h1", f"Reproduction of {doc.number}: {doc.title}"), ("p", head)]
    if scale != 1:
        blocks.append(("p", _scale_note(scale)))
    blocks += [("h2", "Protocol"), ("ul", protocol_items(doc, outcomes, settings))]
    for table in dict.fromkeys(o.exp.table for o in outcomes):
        rows = [o for o in outcomes if o.exp.table == table]
        blocks += [("h2", f"FID: {table}"), ("table", *fid_table(rows, scale))]
        picture = _fid_picture(table, rows, out)
        if picture:
            blocks.append(("img", picture, f"FID against step ({table})"))
    blocks += other_figures(doc, outcomes, settings, out)
    notes = list(doc.notes) + [
        f"{o.exp.row} ({o.exp.table}): {o.exp.note}." for o in outcomes if o.exp.note
    ]
    if notes:
        blocks += [("h2", "What the document says"), ("ul", notes)]
    skipped = [f"{o.exp.key}: {o.skipped}" for o in outcomes if o.skipped]
    if skipped:
        blocks += [("h2", "Skipped"), ("ul", skipped)]
    blocks += _samples(outcomes)
    return blocks


def _scale_note(scale: float) -> str:
    return (
        f"--scale {scale:g}: every run trained {scale:g} times the document's epochs or "
        "iterations (its evaluation points scaled alike), so gankit's numbers come from "
        f"{'shorter' if scale < 1 else 'longer'} training than the document's and are not "
        "expected to match them."
    )


def protocol_items(doc: Document, outcomes: list, settings: dict) -> list[str]:
    """The document's FID protocol, gankit's, and how N was chosen."""
    n, scale = settings["fid_n"], settings["scale"]
    items = [f"The document's FID: {doc.fid_protocol}."]
    for dataset, proto in {o.dataset: o.protocol for o in outcomes if o.protocol}.items():
        items.append(f"gankit's FID on {dataset}: {proto.describe(dataset)}; image i from seed i.")
        if proto.n_reference < proto.n:
            items.append(
                f"{dataset}'s {proto.split} split has {proto.n_reference:,} images: all of them "
                f"are the real side, against {proto.n:,} generated."
            )
    if settings["fid_n_given"]:
        items.append(f"N = {n:,} generated images per FID, given by --fid-n.")
    elif n != doc.fid_n:
        floor = settings["fid_n_floor"]
        items.append(
            f"N = {n:,} generated images per FID: the document's {doc.fid_n:,} x --scale "
            f"{scale:g}, at least {floor:,}. FID is biased upwards at small N."
        )
    if doc.fid_n != STANDARD_N or n != STANDARD_N:
        items.append(
            f"The standard protocol is {STANDARD_N:,} generated vs {STANDARD_N:,} test images; "
            f"FIDs from other N compare only with FIDs from the same N."
        )
    if "not stated" in doc.fid_protocol or "no FID" in doc.fid_protocol:
        items.append(
            "Where the document's protocol is unknown, its numbers may differ from gankit's "
            "by protocol alone (real side, resize, network), even at full scale."
        )
    return items


def _point_label(exp: Experiment, at: float, scale: float) -> str:
    label = f"epoch {at:g}" if exp.unit == "epochs" else f"{at:,.0f} iterations"
    if scale == 1:
        return label
    scaled = at * scale if exp.unit == "epochs" else max(1, round(at * scale))
    return f"{label} (x{scale:g}: {scaled:g})"


def _ours(outcome, index: int) -> str:
    if outcome.skipped:
        return "skipped"
    if not outcome.steps or outcome.steps[index] not in outcome.fids:
        return "pending"
    return f"{outcome.fids[outcome.steps[index]]['fid']:.1f}"


def _theirs(value: float | None) -> str:
    return NONE if value is None else f"{value:g}"


def fid_table(rows: list, scale: float) -> tuple[list, list]:
    """(header, rows) in the document's shape: models by points, or points alone for one model."""
    if len(rows) == 1:  # the document's one-model tables list the points down the page
        o = rows[0]
        header = ["epochs" if o.exp.unit == "epochs" else "iterations", "FID", "gankit step"]
        table = []
        for i, p in enumerate(o.exp.points):
            step = f"{o.steps[i]:,}" if o.steps else NONE
            table.append(
                [_point_label(o.exp, p.at, scale), f"{_theirs(p.fid)} / {_ours(o, i)}", step]
            )
        return header, table
    ats = list(dict.fromkeys(p.at for o in rows for p in o.exp.points))
    header = ["model", *[_point_label(rows[0].exp, at, scale) for at in ats]]
    table = []
    for o in rows:
        index = {p.at: i for i, p in enumerate(o.exp.points)}
        cells = [o.exp.row]
        for at in ats:
            i = index.get(at)
            cells.append("" if i is None else f"{_theirs(o.exp.points[i].fid)} / {_ours(o, i)}")
        table.append(cells)
    return header, table


def _fid_picture(table: str, rows: list, out: Path) -> str:
    series = {
        o.exp.row: [
            {"step": s, "fid": o.fids[s]["fid"]} for s in sorted(set(o.steps)) if s in o.fids
        ]
        for o in rows
    }
    series = {name: points for name, points in series.items() if points}
    if not any(len(points) > 1 for points in series.values()):
        return ""
    name = "fid_" + "".join(c if c.isalnum() else "_" for c in table.lower()).strip("_") + ".png"
    blocks_io.plot_fid_vs_step(series, out / name)
    return name


def other_figures(doc: Document, outcomes: list, settings: dict, out: Path) -> list:
    """The document's other numbers: seconds per epoch, human error rates, 001's checks."""
    blocks: list = []
    timed = [o for o in outcomes if "seconds_per_epoch" in o.exp.reported]
    if timed:
        header = ["model", "seconds per epoch"]
        rows = [
            [
                f"{o.exp.row} ({o.exp.table})",
                f"{o.exp.reported['seconds_per_epoch']:g} / {_seconds(o)}",
            ]
            for o in timed
        ]
        note = f"The document timed a Google Colab GPU; gankit timed {settings['device']}."
        blocks += [("h2", "Training time"), ("table", header, rows), ("p", note)]
    human = [o for o in outcomes if "human_error_rate" in o.exp.reported]
    if human:
        tables = list(dict.fromkeys(o.exp.table for o in human))
        models = list(dict.fromkeys(o.exp.row for o in human))
        rate = {(o.exp.row, o.exp.table): o.exp.reported["human_error_rate"] for o in human}
        rows = [
            [m, *[f"{rate[m, t]:g} / {NONE}" if (m, t) in rate else "" for t in tables]]
            for m in models
        ]
        note = "gankit does not measure people; its web quiz (gankit serve) runs the same test."
        blocks += [("h2", "Human error rate (%)"), ("table", ["model", *tables], rows), ("p", note)]
    if doc.class_checks:
        blocks += _class_blocks(doc, outcomes, out)
    return blocks


def _seconds(o) -> str:
    if o.skipped:
        return "skipped"
    if o.seconds_per_epoch is None:
        return "pending"
    x = o.seconds_per_epoch
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _class_blocks(doc: Document, outcomes: list, out: Path) -> list:
    o = outcomes[0]  # seed 001 has one experiment
    c, r = o.classes, doc.reported

    def cell(key: str, theirs: float | None) -> str:
        value = None if c is None else c.get(key)
        ours = "skipped" if o.skipped else "pending" if value is None else f"{100 * value:.2f}"
        return f"{_theirs(theirs)} / {ours}"

    rows = [
        ["Real data (test split)", cell("accuracy_real", r["accuracy_real"])],
        ["Generated data (intended labels)", cell("accuracy_generated", r["accuracy_generated"])],
        ["Real + synthetic (augmentation)", cell("accuracy_augmented", r["accuracy_augmented"])],
        ["Synthetic only", cell("accuracy_synthetic_only", None)],
    ]
    header = ["classifier accuracy (%) on", "document / gankit"]
    blocks: list = [("h2", "Classifier checks (last checkpoint)"), ("table", header, rows)]
    if c is None:
        return blocks
    blocks += [("p", _classifier_note(c)), ("p", _histogram_note(c))]
    counts = c["class_counts"]
    names = c.get("class_names") or [str(i) for i in range(len(counts))]
    classes.plot_class_histogram(counts, names, out / "class_histogram.png")
    classes.plot_confusion(torch.tensor(c["confusion"]), names, out / "confusion.png")
    blocks.append(("img", "class_histogram.png", "predicted classes of the generated images"))
    blocks.append(("img", "confusion.png", "confusion matrix: label generated for vs predicted"))
    return blocks


def _classifier_note(c: dict) -> str:
    clf = c["classifier"]
    which = "the cached dataset classifier" if clf.get("cached") else "one trained for this run"
    return (
        f"Classifier: {which} ({clf.get('arch')}, {clf.get('epochs')} epochs, measured on "
        f"the {clf.get('test_split')}); generated accuracy over {c['n_generated']:,} images "
        f"with balanced labels; augmentation: fresh classifiers on real + "
        f"{c['tstr_generated']:,} generated images for {c['tstr_epochs']:g} epochs (the "
        "recipe's 5 at full scale), tested on the real test images."
    )


def _histogram_note(c: dict) -> str:
    counts = c["class_counts"]
    return (
        f"Class distribution of {sum(counts):,} generated images: the document saw it "
        f"'balanced with low error'; gankit: {min(counts)} to {max(counts)} per class, "
        f"normalised entropy {c['class_entropy'] + 0.0:.3f} (1 = perfectly balanced)."
    )


def _samples(outcomes: list) -> list:
    shown = [o for o in outcomes if o.sample]
    if not shown:
        return []
    blocks: list = [("h2", "Samples at the last point")]
    for o in shown:
        caption = f"{o.exp.row} ({o.exp.table}), run {o.exp.key}, step {o.steps[-1]:,}"
        blocks.append(("img", o.sample, caption))
    return blocks


def atomic_write(path: Path, text: str) -> None:
    """Writes one file of a reproduction atomically and durably (see ``gankit.durable``).

    Raises:
        GankitError: the disk is full or failing; the previous file is intact, and the
            same command continues the reproduction where it stopped.
    """
    try:
        durable.write_file(path, text, fault="reproduce.write")
    except OSError as e:
        raise GankitError(
            f"cannot write {path}: {durable.describe(e)} - free space and run the same command "
            "again (what is done is kept)"
        ) from None
