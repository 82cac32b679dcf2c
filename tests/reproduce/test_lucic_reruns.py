"""``gankit reproduce lucic-fashion --reruns K``: the best setting trained again with K seeds,
reported as mean ± sd beside the best trial, resumed without retraining, bad K as one line.

The study is tiny: the Lucic presets at width 4 on 48 generated 28 px images in
Fashion-MNIST's files, one step per run, FID from 8 images through the stand-in network.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from gankit import config as config_io
from gankit.cli import main
from gankit.metrics.report import to_markdown
from gankit.presets import get_preset
from gankit.reproduce import lucic
from gankit.reproduce.catalog import LUCIC_OBJECTIVES
from gankit.reproduce.lucic_report import report_blocks
from gankit.run import Run

BEST_TRIAL = "best trial of the search (biased low)"
HEADER = (
    "| objective | FID mean ± sd over 2 reruns of the best setting "
    "| best trial of the search (biased low) | trials (complete / pruned / failed) |"
)


def gankit(*argv) -> int:
    return main([str(a) for a in argv])


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _fashion_files(folder: Path) -> Path:
    """Fashion-MNIST's four files holding 48 train and 16 test random 28 px images."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split, n in (("train", 48), ("t10k", 16)):
        images = rng.integers(0, 256, (n, 28, 28))
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(_idx(images))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10))
    return folder


def _tiny_preset(name: str):
    """The Lucic preset at width 4 and batch 16: the same objective and search, faster."""
    cfg = get_preset(name)
    model = dataclasses.replace(cfg.model, g_width=4, d_width=4, z_dim=8)
    return dataclasses.replace(
        cfg, model=model, train=dataclasses.replace(cfg.train, batch_size=16)
    )


def _fid(run: Run) -> float:
    records = json.loads((run.path / "reproduce.json").read_text())["records"]
    return next(r["value"]["fid"] for r in records if r["what"] == "fid")


def _setting(run: Run) -> dict:
    """The run's config without its seed."""
    tree = config_io.to_dict(run.config())
    tree["train"].pop("seed")
    return tree


@pytest.mark.slow  # a study of trainings, then reruns, then all of it again
def test_reruns_give_mean_and_sd_beside_the_best_trial_and_resume(
    tmp_path, fake_inception, monkeypatch
):
    monkeypatch.setattr(lucic, "get_preset", _tiny_preset)
    lines: list[str] = []
    monkeypatch.setattr("gankit.cli.reproduce._say", lines.append)
    out, data = tmp_path / "lucic", _fashion_files(tmp_path / "data")
    argv = ["reproduce", "lucic", "--scale", "0.0001", "--fid-n", "8", "--device", "cpu"]
    argv += ["--quiet", "--trials", "1", "--objectives", "ns", "--reruns", "2"]
    argv += ["--data-dir", data, "--out", out]
    assert gankit(*argv) == 0

    # Two reruns of trial 0000's setting, the trial's seed + 1 and + 2, for its schedule.
    trial = Run(out / "ns" / "trials" / "0000")
    reruns = [Run(out / "ns" / "reruns" / "0000" / f"seed-{seed}") for seed in (1, 2)]
    assert trial.config().train.seed == 0
    assert [run.config().train.seed for run in reruns] == [1, 2]
    assert all(_setting(run) == _setting(trial) for run in reruns)
    assert all(run.checkpoint_steps() == trial.checkpoint_steps() for run in reruns)
    assert not list((out / "ns" / "reruns").rglob("training.safetensors"))
    fids = [_fid(run) for run in reruns]
    assert fids[0] != fids[1] and all(f > 0 for f in fids)

    # The rerun statistic is the main column, the best trial a second, labelled one.
    md = (out / "REPORT.md").read_text()
    assert HEADER in md
    row = next(line for line in md.splitlines() if line.startswith("| NS GAN |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == f"26.5 / {np.mean(fids):.1f} ± {np.std(fids, ddof=1):.1f}"
    assert cells[2] == f"{_fid(trial):.1f}" and cells[3] == "1 / 0 / 0"
    assert f"seed 1: {fids[0]:.2f}, seed 2: {fids[1]:.2f}" in md
    assert "| WGAN | 21.5 / skipped |  |" in md  # not chosen: no figures in either column

    # Again, with one rerun gone: only that one is trained; the other is read back.
    shutil.rmtree(reruns[1].path)
    kept = {p: p.stat().st_mtime_ns for p in reruns[0].path.rglob("*") if p.is_file()}
    lines.clear()
    assert gankit(*argv) == 0
    said = "\n".join(lines)
    assert "already has 1 finished trials" in said
    assert "with seed 2" in said and "with seed 1" not in said
    assert said.count("training to step") == 1
    assert {p: p.stat().st_mtime_ns for p in reruns[0].path.rglob("*") if p.is_file()} == kept
    assert _fid(reruns[1]) == pytest.approx(fids[1], rel=1e-6)  # same seed, same run
    assert row in (out / "REPORT.md").read_text()


def _report(tmp_path, fids: list[float], reruns: int) -> str:
    """REPORT.md of one NS GAN row: best trial FID 40.04, ``fids`` from its reruns."""
    obj = next(o for o in LUCIC_OBJECTIVES if o.loss == "ns")
    row = lucic.Result(obj, study=tmp_path / "ns", counts=(3, 0, 0), best_params={"lr_g": 1e-4})
    row.best_run, row.fid = tmp_path / "ns" / "trials" / "0002", {"fid": 40.04, "step": 5}
    folder = tmp_path / "ns" / "reruns" / "0002"
    row.reruns = [lucic.Rerun(k + 1, folder / f"seed-{k + 1}", f) for k, f in enumerate(fids)]
    settings = {"scale": 1, "fid_n": 10_000, "trials": 3, "device": "cpu", "written": "now"}
    return to_markdown(report_blocks([row], settings | {"reruns": reruns}, tmp_path))


@pytest.mark.parametrize("fids", [[30.0, 34.0], [30.0, 31.5, 36.25], [25.1, 27.9, 24.4, 30.3]])
def test_the_rerun_column_is_mean_and_sample_sd(tmp_path, fids):
    md = _report(tmp_path, fids, len(fids))
    mean, sd = np.mean(fids), np.std(fids, ddof=1)
    assert f"| NS GAN | 26.5 / {mean:.1f} ± {sd:.1f} | 40.0 | 3 / 0 / 0 | lr_g 0.0001 |" in md
    assert f"over {len(fids)} reruns of the best setting | {BEST_TRIAL} |" in md


def test_one_rerun_has_no_sd_and_no_reruns_keeps_one_column(tmp_path):
    md = _report(tmp_path, [43.26], 1)
    assert "| NS GAN | 26.5 / 43.3 ± - | 40.0 | 3 / 0 / 0 | lr_g 0.0001 |" in md
    assert "seed 1: 43.26 (runs in " in md

    md = _report(tmp_path, [], 0)
    assert "| objective | best FID | trials (complete / pruned / failed) | best settings |" in md
    assert "| NS GAN | 26.5 / 40.0 | 3 / 0 / 0 | lr_g 0.0001 |" in md
    assert BEST_TRIAL not in md and "Reruns of the best setting" not in md


def test_reruns_not_all_done_are_pending(tmp_path):
    md = _report(tmp_path, [30.0], 2)
    assert "| NS GAN | 26.5 / pending | 40.0 |" in md


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lucic", "--reruns", "-1"], "--reruns must be a number of reruns from 0 to 100, got -1"),
        (["lucic", "--reruns", "101"], "--reruns must be a number of reruns from 0 to 100"),
        (["002", "--reruns", "2"], "--reruns are for lucic-fashion only"),
    ],
)
def test_bad_reruns_are_one_line(argv, expected, tmp_path, capsys):
    assert gankit("reproduce", *argv, "--out", tmp_path / "x") != 0
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: ") and err.count("\n") == 1 and expected in err
    assert not (tmp_path / "x").exists()
