"""Writing evaluation results: report.md, a self-contained report.html, metrics.json, comparisons.

Owns the files ``gankit evaluate`` and ``gankit compare`` leave behind, and
nothing about how the numbers were obtained. A report is built as a list of
blocks - ``("h1" | "h2" | "p", text)``, ``("ul", [items])``, ``("table",
header, rows)``, ``("img", file, caption)`` - and rendered twice: Markdown that
links the PNGs beside it, and HTML with every PNG inside it as a base64 data URI
(one file to mail or archive, no external references). A report folder is built
beside its final place and swapped in only when complete (``staged_folder``), so
a failure leaves the previous one intact.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch

from gankit import durable
from gankit.errors import GankitError
from gankit.metrics import classes, latent, memorization
from gankit.metrics.classes import new_figure, save_figure

EVAL_FILE, EVAL_FORMAT, EVAL_VERSION = "metrics.json", "gankit-eval", 1
COMPARE_FILE = "compare.md"
MEM_INCEPTION, MEM_PIXELS = "memorization_inception", "memorization_pixels"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


# Per-checkpoint table columns: (row key, header, cell); a column shows when any row has its key.
COLUMNS = (
    ("step", "step", lambda r: f"{r['step']:,}"),
    ("epoch", "epoch", lambda r: f"{r['epoch']:.2f}"),
    ("images_seen", "images seen", lambda r: f"{r['images_seen']:,}"),
    ("fid", "FID", lambda r: f"{r['fid']:.2f}"),
    ("kid_mean", "KID", lambda r: f"{r['kid_mean']:.5f} ± {r['kid_std']:.5f}"),
    ("precision", "precision", lambda r: f"{r['precision']:.3f}"),
    ("recall", "recall", lambda r: f"{r['recall']:.3f}"),
    ("density", "density", lambda r: f"{r['density']:.3f}"),
    ("coverage", "coverage", lambda r: f"{r['coverage']:.3f}"),
    ("accuracy", "accuracy", lambda r: _pct(r["accuracy"])),
    ("classifier_fid", "classifier FID", lambda r: f"{r['classifier_fid']:.2f}"),
    ("classifier_is_mean", "classifier IS", lambda r: f"{r['classifier_is_mean']:.2f}"),
    ("class_entropy", "class entropy", lambda r: f"{r['class_entropy'] + 0.0:.3f}"),  # no -0
    (MEM_INCEPTION, "memorised (Inception)", lambda r: _pct(r[MEM_INCEPTION])),
    (MEM_PIXELS, "memorised (pixels)", lambda r: _pct(r[MEM_PIXELS])),
)


# --- the report folder ---


def check_output_folder(out: Path, marker: str) -> None:
    """Refuses, before any work, to replace a folder that is neither empty nor an earlier report."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GankitError(f"{out} is a file - give a folder for --out")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        raise GankitError(
            f"{out} holds something other than a gankit report (no {marker}) and would be "
            "replaced as a whole - pick another --out"
        )


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yields an empty folder beside ``out`` that replaces ``out`` on success, else is removed."""
    out = Path(out)
    # Fixed names, so the next run finds what a killed one left: a report set aside
    # between the two renames goes back first, then a half-written one is dropped.
    tmp, old = durable.temp_path(out), durable.aside_path(out)
    if old.exists() and not out.exists():
        old.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        yield tmp
        # Every file on the disk before the rename publishes them (see gankit.durable).
        durable.sync_tree(tmp)
        if out.exists():
            out.rename(old)  # kept until the new one is in place
        tmp.rename(out)
        durable.sync_folder(out.parent)
    except OSError as e:
        if old.exists() and not out.exists():
            old.rename(out)
        raise GankitError(
            f"cannot write {out}: {durable.describe(e)} - free space and run the same command again"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)


def json_safe(value):
    """``value`` with NaN and infinities as None, so the JSON is standard (no bare NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _write(folder: Path, blocks: list, name: str, title: str) -> None:
    """``name``.md and ``name``.html of ``blocks`` into ``folder`` (the pictures already there)."""
    durable.write_file(folder / f"{name}.md", to_markdown(blocks), fault="report.write")
    html = to_html(blocks, folder, title)
    durable.write_file(folder / f"{name}.html", html, fault="report.write")


# --- rendering blocks ---


def to_markdown(blocks: list) -> str:
    """Markdown of the blocks; pictures are links to the PNG files beside it."""
    out = []
    for kind, *rest in blocks:
        if kind[0] == "h":
            out.append("#" * int(kind[1]) + " " + rest[0])
        elif kind == "p":
            out.append(rest[0])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in rest[0]))
        elif kind == "table":
            header, rows = rest
            lines = [_md_row(header), "|:---|" + "---:|" * (len(header) - 1)]
            out.append("\n".join(lines + [_md_row(row) for row in rows]))
        elif kind == "img":
            out.append(f"![{rest[1]}]({rest[0]})")
    return "\n\n".join(out) + "\n"


def _md_row(cells: list) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


_CSS = (
    "body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;"
    "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}"
    "img{max-width:100%}figcaption{color:#555;font-size:.9em}"
)


def to_html(blocks: list, folder: Path, title: str) -> str:
    """One self-contained HTML page; every picture (a PNG in ``folder``) embedded as a data URI."""
    e, body = html.escape, []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{e(rest[0])}</{kind}>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in rest[0]) + "</ul>")
        elif kind == "table":
            cells = [[f"<th>{e(str(c))}</th>" for c in rest[0]]]
            cells += [[f"<td>{e(str(c))}</td>" for c in row] for row in rest[1]]
            body.append("<table>" + "".join(f"<tr>{''.join(r)}</tr>" for r in cells) + "</table>")
        elif kind == "img":
            data = base64.b64encode((folder / rest[0]).read_bytes()).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{e(rest[1])}">'
                f"<figcaption>{e(rest[1])}</figcaption></figure>"
            )
    head = f'<meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style>'
    page = f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>\n'
    return page + "\n".join(body) + "\n</body></html>\n"


def _flat(value) -> str:
    """A protocol value as text: dicts as 'key value; ...', lists comma-separated."""
    if isinstance(value, dict):
        items = [(k.replace("_", " "), v) for k, v in value.items() if v not in ("", None)]
        return "; ".join(f"{k} {_flat(v)}" for k, v in items)
    if isinstance(value, list):
        return ", ".join(map(_flat, value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}" if type(value) is int else str(value)


# --- the evaluation report ---


def write_eval_report(result: dict, folder: Path) -> None:
    """Writes metrics.json, report.md and report.html into ``folder`` (the pictures are there)."""
    result = json_safe(result)
    text = json.dumps(result, indent=1, allow_nan=False) + "\n"
    durable.write_file(folder / EVAL_FILE, text, fault="report.write")
    _write(folder, eval_blocks(result), "report", f"gankit evaluation of {result['run']}")


def eval_blocks(result: dict) -> list:
    """The evaluation report: what was evaluated, the protocol, the table, the pictures."""
    cfg, rows, best = result["config"], result["checkpoints"], result["best"]
    data, model, several = cfg["data"], cfg["model"], len(rows) > 1
    what = (
        f"{model['arch']} (conditioning {model['conditioning']}), {cfg['loss']['loss']} loss, "
        f"on {data['dataset']} at {data['img_size']} px, {data['channels']} channel(s); "
        f"preset {cfg['preset'] or 'none'}; evaluated {result['created']}."
    )
    protocol = {**result["protocol"], "real-vs-real floor (best attainable)": result["floor"]}
    items = [f"{k.replace('_', ' ')}: {_flat(v)}" for k, v in protocol.items() if v is not None]
    blocks: list = [("h1", f"Evaluation of {result['run']}"), ("p", what)]
    blocks += [("h2", "Protocol"), ("ul", items), ("h2", "Metrics per checkpoint")]
    blocks.append(("table", *checkpoint_table(rows, best["step"] if several else None)))
    if several:
        blocks.append(("p", f"Best checkpoint: step {best['step']:,} (FID {best['fid']:.2f})."))
    if "memorization" in protocol:
        q = protocol["memorization"]["quantile"]
        memorised = "Memorised: the share of generated images closer to a real image than"
        blocks.append(("p", f"{memorised} {1 - q:.0%} of unseen real ones ({q:.0%} if none)."))
    skipped = [f"{k}: not applicable - {why}" for k, why in result["not_applicable"].items()]
    skipped += [f"{k}: not computed - {how}" for k, how in result["not_computed"].items()]
    blocks += _detail_blocks(result)
    return blocks + [("h2", "Not applicable or not computed"), ("ul", skipped)] * bool(skipped)


def checkpoint_table(rows: list[dict], best_step: int | None) -> tuple[list, list]:
    """(header, rows) with the columns any row has; the row of ``best_step`` marked."""
    columns = [c for c in COLUMNS if any(c[0] in row for row in rows)]
    header = [c[1] for c in columns] + ([""] if best_step is not None else [])
    table = []
    for row in rows:
        cells = [cell(row) if row.get(key) is not None else "-" for key, _, cell in columns]
        mark = ["best (lowest FID)" if row["step"] == best_step else ""]
        table.append(cells + mark * (best_step is not None))
    return header, table


def _detail_blocks(result: dict) -> list:
    """The pictures of one checkpoint, with its per-class table and train-on-synthetic result."""
    step, names = result["pictures_step"], result["config"]["data"]["class_names"]
    row = next(r for r in result["checkpoints"] if r["step"] == step)
    pictures = [("img", pic["file"], pic["title"]) for pic in result["pictures"]]
    blocks: list = [p for p in pictures if p[1] == "fid_vs_step.png"]
    blocks.append(("h2", f"Step {step:,}: classes and pictures"))
    if "class_counts" in row:
        header = ["class", "generated images classified as it"]
        table = [[name, f"{count:,}"] for name, count in zip(names, row["class_counts"])]
        if "per_class_accuracy" in row:
            header.append("accuracy of images generated for it")
            for cells in table:
                acc = row["per_class_accuracy"].get(cells[0])
                cells.append("-" if acc is None else _pct(acc))
        blocks.append(("table", header, table))
    if result.get("tstr"):
        blocks.append(("p", f"Train on synthetic, test on real: {_flat(result['tstr'])}."))
    return blocks + [p for p in pictures if p[1] != "fid_vs_step.png"]


def plot_fid_vs_step(series: dict[str, list[dict]], path: Path) -> Path:
    """FID against step, one line per series (run); a single series gets its best starred
    and its accuracy, where measured, on a second axis."""
    fig = new_figure(7.0, 4.0)
    ax = fig.add_subplot()
    for name, rows in series.items():
        ax.plot([r["step"] for r in rows], [r["fid"] for r in rows], marker="o", label=name)
    if len(series) == 1:
        rows = next(iter(series.values()))
        best = min(rows, key=lambda r: r["fid"])
        star = {"ms": 16, "color": "gold", "mec": "black", "label": f"best: step {best['step']:,}"}
        ax.plot([best["step"]], [best["fid"]], "*", **star)
        measured = [r for r in rows if r.get("accuracy") is not None]
        if measured:
            ax2 = ax.twinx()
            ys = [100 * r["accuracy"] for r in measured]
            ax2.plot([r["step"] for r in measured], ys, "s-", color="tab:orange", label="accuracy")
            ax2.set(ylabel="accuracy of generated images (%)", ylim=(0, 100))
            ax2.legend(loc="upper right", fontsize=8)
    ax.ticklabel_format(useOffset=False)  # FIDs as they are, not as offsets from one
    ax.set_xlabel("step")
    ax.set_ylabel("FID (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)


def class_pictures(folder: Path, row: dict, names: list, points, labels, by: str) -> list[dict]:
    """The class histogram, the confusion matrix (when measured) and the 2-D map of ``points``."""
    pictures = []

    def add(file: str, title: str) -> Path:
        pictures.append({"file": file, "title": title})
        return folder / file

    title = f"predicted classes of {sum(row['class_counts']):,} generated images"
    classes.plot_class_histogram(row["class_counts"], names, add("class_histogram.png", title))
    if "confusion" in row:
        title = "confusion matrix: label generated for vs label predicted"
        classes.plot_confusion(torch.tensor(row["confusion"]), names, add("confusion.png", title))
    title = f"t-SNE map of classifier features of {len(points)} generated images, by {by}"
    latent.plot_embedding(points, labels, names, add("embedding.png", title), title=title)
    return pictures


def neighbour_pictures(folder: Path, images, spaces: dict[str, tuple]) -> list[dict]:
    """Per file: each generated image, a gap, then its nearest real images in that space.

    ``spaces`` maps a file name to (what the neighbours are, their images, indices [M, k]).
    """
    for file, (what, real, indices) in spaces.items():
        memorization.save_neighbour_picture(images, real, indices, folder / file)
    return [
        {"file": file, "title": f"nearest {what} (generated image first)"}
        for file, (what, _, _) in spaces.items()
    ]


# --- comparing runs ---


def read_eval(run: Path) -> dict:
    """A run's eval/metrics.json, or one line saying how to make it."""
    run = Path(run)
    path, make = run / "eval" / EVAL_FILE, f"run `gankit evaluate {run} --checkpoint all` first"
    if not run.is_dir():
        raise GankitError(f"run folder {run} does not exist - check the path")
    if not path.is_file():
        raise GankitError(f"{run} has not been evaluated (no {path}) - {make}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise GankitError(f"{path} is damaged - {make}") from None
    if not isinstance(data, dict) or data.get("format") != EVAL_FORMAT or "best" not in data:
        raise GankitError(f"{path} is not a gankit evaluation - {make}")
    return data


def write_comparison(runs: list[Path], out: Path) -> Path:
    """compare.md, compare.html and compare_fid.png of the evaluated ``runs``, into ``out``.

    One row per run, one column per checkpoint step (the union over the runs):
    FID, and accuracy where it was measured.
    """
    evals = {str(run): read_eval(run) for run in runs}
    check_output_folder(out, COMPARE_FILE)
    steps = sorted({row["step"] for e in evals.values() for row in e["checkpoints"]})
    table = []
    for name, e in evals.items():
        by_step = {row["step"]: row for row in e["checkpoints"]}
        cells = [_comparison_cell(by_step.get(step)) for step in steps]
        table.append([name, *cells, f"{e['best']['fid']:.2f} (step {e['best']['step']:,})"])
    protocols = {name: _protocol_line(e) for name, e in evals.items()}
    cells = "Cells: FID (lower is better) / accuracy of generated images against their intended"
    cells += " labels, where measured; - where a run has no checkpoint at that step."
    blocks = [("h1", "Comparison of runs"), ("p", cells)]
    blocks.append(("table", ["run", *[f"step {s:,}" for s in steps], "best FID"], table))
    blocks.append(("img", "compare_fid.png", "FID against step, one line per run"))
    blocks += [("h2", "Protocols"), ("ul", [f"{k}: {line}" for k, line in protocols.items()])]
    if len({line.split(" | ")[0] for line in protocols.values()}) > 1:
        blocks.append(("p", "The protocols differ: these FIDs are not directly comparable."))
    with staged_folder(out) as folder:
        series = {name: e["checkpoints"] for name, e in evals.items()}
        plot_fid_vs_step(series, folder / "compare_fid.png")
        _write(folder, blocks, "compare", "gankit comparison")
    return Path(out)


def _comparison_cell(row: dict | None) -> str:
    if row is None:
        return "-"
    acc = row.get("accuracy")
    return f"{row['fid']:.2f}" + ("" if acc is None else f" / {_pct(acc)}")


def _protocol_line(e: dict) -> str:
    """What makes FIDs comparable (before the ' | '), then what the run is."""
    p, cfg = e["protocol"], e["config"]
    return (
        f"{p['network']} sha1 {p['network_sha1'][:12]}, {p['n_generated']:,} generated vs "
        f"{p['reference']['description']} | {cfg['model']['arch']} "
        f"({cfg['model']['conditioning']}), {cfg['loss']['loss']} loss; evaluated {e['created']}"
    )
