"""The text of ``gankit reproduce --list``: per document, what it trains, where it is
evaluated, and what the whole of it costs at --scale 1 on the measured CPU."""

from __future__ import annotations

from gankit.reproduce import costs
from gankit.reproduce.catalog import (
    DOCUMENTS,
    LUCIC_NAME,
    LUCIC_OBJECTIVES,
    LUCIC_TITLE,
    LUCIC_TRIALS,
    Document,
    Experiment,
)


def _points(exp: Experiment) -> str:
    ats = ", ".join(f"{p.at:,g}" for p in exp.points)
    steps = costs.experiment_steps(exp)
    if exp.unit == "steps":
        return f"iterations {ats}"
    return f"epochs {ats} ({steps:,} steps)"


def document_lines(doc: Document) -> list[str]:
    cost = costs.document_cost(doc)
    indent = " " * 4
    lines = [f"{doc.name} ({doc.number}): {doc.title}"]
    width = max(len(e.preset) for e in doc.experiments)
    for e in doc.experiments:
        seconds = costs.experiment_steps(e) * costs.SECONDS_PER_STEP.get(e.preset, float("nan"))
        lines.append(
            f"{indent}{e.preset.ljust(width)}  {e.row[:16]:16s} {_points(e):44s}"
            f"{costs.format_seconds(seconds):>10s}"
        )
    n_fids = sum(len({p.at for p in e.points}) for e in doc.experiments)
    folders = any(e.data in ("flowers", "art") for e in doc.experiments)
    real = "the test split" + (" (image folders: their train images)" if folders else "")
    lines.append(
        f"{indent}evaluation: {n_fids} FIDs, each {doc.fid_n:,} generated images vs {real}"
    )
    if doc.class_checks:
        lines.append(
            f"{indent}  + classifier accuracy on real and generated images, class histogram,"
            " real + synthetic training"
        )
    lines.append(
        f"{indent}full scale: {costs.format_seconds(cost.train_seconds)} training + "
        f"{costs.format_seconds(cost.eval_seconds)} evaluation"
    )
    return lines


def lucic_lines() -> list[str]:
    indent, total = " " * 4, 0.0
    lines = [f"{LUCIC_NAME}: {LUCIC_TITLE}"]
    for o in LUCIC_OBJECTIVES:
        preset = f"lucic-fashion-{o.loss}"
        if o.missing:
            lines.append(f"{indent}{o.row}: not implemented (see the report)")
            continue
        steps, seconds = costs.lucic_trial(o.loss)
        total += seconds * LUCIC_TRIALS
        what = f"20 epochs ({steps:,} steps) x {LUCIC_TRIALS} trials"
        lines.append(
            f"{indent}{preset:22s} {o.row.split(' (')[0]:8s} {what:38s}"
            f"{costs.format_seconds(seconds * LUCIC_TRIALS):>10s}"
        )
    lines.append(
        f"{indent}search: gankit tune over the paper's range; evaluation: each trial's last "
        f"checkpoint, FID of 10,000 generated vs the test split"
    )
    lines.append(f"{indent}full scale: {costs.format_seconds(total)} (--trials N for fewer)")
    lines.append(
        f"{indent}--reruns K: each objective's best setting trained K times more (the cost "
        "of K trials), reported as FID mean ± sd over them - the paper's statistic"
    )
    return lines


def listing() -> str:
    """Every document's lines, lucic-fashion's, then how to run one."""
    lines = ["DOC (number): what it trains, where it is evaluated, its cost at --scale 1", ""]
    for doc in DOCUMENTS.values():
        lines += document_lines(doc) + [""]
    lines += lucic_lines() + [""]
    lines += [
        (
            f"Costs: seconds per step measured by bench/reproduce_cost.py on {costs.MACHINE}, "
            "times the steps; a GPU is far faster."
        ),
        "Run one with: gankit reproduce DOC [--scale 0.01] (a bare number works: 003)",
    ]
    return "\n".join(lines)
