"""``gankit reproduce``: a tiny real reproduction (real Inception network, real training),
resuming without retraining, missing data skipped with the data layer's line, the
listing, and bad input as one line.

The tiny run is seed 002 on Fashion-MNIST at --scale 1e-4 (steps 2 and 3 for its
epochs 42 and 50) with FID from 8 images; its art half has no folder and is skipped.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from gankit.cli import main
from gankit.data import sources
from gankit.reproduce import DOCUMENTS, find_document
from gankit.reproduce.runner import Options, reproduce
from tests.support import realdata

TINY = ["--scale", "0.0001", "--fid-n", "8", "--device", "cpu", "--quiet"]


def gankit(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def tiny_002(tmp_path_factory):
    """Seed 002 reproduced at a tiny scale, once for the module: (output folder, its stdout)."""
    out = tmp_path_factory.mktemp("repro") / "002"
    with pytest.MonkeyPatch.context() as mp:
        lines: list[str] = []
        mp.setattr("gankit.cli.reproduce._say", lines.append)
        assert gankit("reproduce", "002", *TINY, "--out", out) == 0
    return out, "\n".join(lines)


@pytest.mark.slow  # shares a scaled reproduction of seed 002 on real data
@realdata
def test_tiny_reproduction_reports_both_numbers(tiny_002):
    out, said = tiny_002
    assert {"REPORT.md", "report.html", "reproduction.json", "fashion-dcgan"} <= {
        p.name for p in out.iterdir()
    }
    md = (out / "REPORT.md").read_text()
    # The document's shape: its epochs down the page, "document / gankit" in each cell.
    rows = [line for line in md.splitlines() if line.startswith(("| epoch 42", "| epoch 50"))]
    assert len(rows) == 2 and all(" — / " in row for row in rows)
    fids = [float(row.split(" — / ")[1].split(" |")[0]) for row in rows]
    assert all(f > 0 for f in fids)
    assert "8 generated vs 8 fashion-mnist test images, tf-inception-v3-pool3" in md
    assert "N = 8 generated images per FID, given by --fid-n" in md
    # The art half has no folder: skipped with the line that says how to give it.
    assert "art-dcgan-128: art images not given - pass --art DIR" in md
    assert "— / skipped" in md
    html = (out / "report.html").read_text()
    assert "<table>" in html and 'src="data:image/png;base64,' in html and 'src="fid' not in html
    assert "resuming at step 2, to step 3" in said  # the second point resumed the run


@pytest.mark.slow  # shares a scaled reproduction of seed 002 on real data
@realdata
def test_running_again_trains_and_measures_nothing(tiny_002, capsys):
    out, _ = tiny_002
    run = out / "fashion-dcgan"
    before = {p: p.stat().st_mtime_ns for p in (run / "checkpoints").rglob("*") if p.is_file()}
    assert gankit("reproduce", "002", *TINY, "--out", out) == 0
    said = capsys.readouterr().out
    assert "FID at step 2: " in said and "(read back)" in said
    assert "training" not in said and "resuming" not in said
    after = {p: p.stat().st_mtime_ns for p in (run / "checkpoints").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.slow  # shares a scaled reproduction of seed 002 on real data
@realdata
def test_an_unfinished_run_resumes_from_its_checkpoint(tiny_002, capsys):
    out, _ = tiny_002
    run = out / "fashion-dcgan"
    import shutil

    shutil.rmtree(run / "checkpoints" / "step_0000003")  # as if stopped before step 3
    step2 = (run / "checkpoints" / "step_0000002" / "state.json").stat().st_mtime_ns
    assert gankit("reproduce", "002", *TINY, "--out", out) == 0
    said = capsys.readouterr().out
    assert "resuming at step 2, to step 3" in said
    assert (run / "checkpoints" / "step_0000003" / "state.json").is_file()
    assert (run / "checkpoints" / "step_0000002" / "state.json").stat().st_mtime_ns == step2


@pytest.mark.slow  # shares a scaled reproduction of seed 002 on real data
@realdata
def test_another_scale_into_the_same_folder_is_refused(tiny_002, capsys):
    out, _ = tiny_002
    assert gankit("reproduce", "002", "--scale", "0.5", "--out", out) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scale 0.0001" in err and "another --out" in err


def test_missing_data_is_skipped_with_the_data_layers_line(tmp_path, monkeypatch):
    def offline(url, dest, timeout=0):
        raise OSError("no network in tests")

    monkeypatch.setattr(sources, "fetch", offline)
    doc = DOCUMENTS["003-four-gans"]
    mnist = tuple(e for e in doc.experiments if e.data in ("mnist", "flowers"))
    lines: list[str] = []
    opts = Options(scale=0.001, out=tmp_path / "out", device="cpu", progress=False)
    reproduce(dataclasses.replace(doc, experiments=mnist), opts, say=lines.append)
    md = (tmp_path / "out" / "REPORT.md").read_text()
    assert "| Vanilla GAN | 114 / skipped | 91 / skipped | 85 / skipped |" in md
    assert "mnist-gan: mnist train files not found" in md and "pass --data-dir DIR" in md
    assert "flowers-dcgan: flowers images not given - pass --flowers DIR" in md
    assert "| DCGAN | 144 / skipped | 102 / skipped | 90 / skipped | 79 / skipped |" in md
    assert sum("skipped: mnist train files not found" in line for line in lines) == 4
    assert "44.44 / —" in md  # the human error rates, which gankit does not measure
    assert not any(p.is_dir() for p in (tmp_path / "out").iterdir())  # nothing trained


def test_only_runs_the_named_experiments_and_reports_the_rest_as_not_chosen(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "fetch", lambda *a, **k: (_ for _ in ()).throw(OSError("x")))
    doc = DOCUMENTS["003-four-gans"]
    lines: list[str] = []
    opts = Options(scale=0.001, out=tmp_path, device="cpu", only="mnist-gan, mnist-wgan")
    reproduce(doc, opts, say=lines.append)
    md = (tmp_path / "REPORT.md").read_text()
    # Chosen: each looked for its data (offline here, so it is missing).
    assert "mnist-gan: mnist train files not found" in md
    assert "mnist-wgan: mnist train files not found" in md
    # Not chosen: never trained, though shapes would have been generated on the spot.
    assert "shapes-gan: not chosen (--only)" in md and "mnist-dcgan: not chosen (--only)" in md
    assert sum("skipped: not chosen (--only)" in line for line in lines) == len(doc.experiments) - 2
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_list_shows_every_document_and_its_cost(capsys):
    assert gankit("reproduce", "--list") == 0
    out = capsys.readouterr().out
    for doc in DOCUMENTS.values():
        assert f"{doc.name} ({doc.number}): {doc.title}" in out
    assert out.count("full scale: ") >= len(DOCUMENTS)
    assert "fashion-cgan-slow" in out and "epochs 10, 50, 100, 150, 200" in out
    assert "bench/reproduce_cost.py" in out


def test_a_bare_number_names_its_document():
    assert find_document("003").name == "003-four-gans"
    assert find_document("001-CGAN").name == "001-cgan"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["reproduce", "003-fourgans"], "did you mean '003-four-gans'?"),
        (["reproduce", "007"], "valid: 000-fashion"),
        (["reproduce", "002", "--scale", "0"], "--scale must be above 0"),
        (["reproduce", "002", "--scale", "-1"], "--scale must be above 0"),
        (["reproduce"], "give a DOC"),
        (["reproduce", "000", "--only", "fashion-gann"], "has no experiment 'fashion-gann'"),
        (["reproduce", "lucic", "--only", "ns"], "--objectives, not --only"),
    ],
)
def test_bad_input_is_one_line(argv, expected, capsys):
    assert gankit(*argv) != 0
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: ") and err.count("\n") == 1 and expected in err


def test_manifest_records_document_and_scale(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "fetch", lambda *a, **k: (_ for _ in ()).throw(OSError("x")))
    doc = DOCUMENTS["003-four-gans"]
    only = dataclasses.replace(doc, experiments=doc.experiments[:1])
    reproduce(only, Options(scale=0.5, out=tmp_path, device="cpu"), say=lambda line: None)
    assert json.loads((tmp_path / "reproduction.json").read_text())["scale"] == 0.5


# --- lucic-fashion: Lucic et al. 2018 through gankit tune ---


def test_lucic_spaces_are_valid_tune_spaces_and_evaluate_only_at_the_end():
    from gankit.reproduce.catalog import LUCIC_OBJECTIVES, lucic_space
    from gankit.reproduce.lucic import IMPLEMENTED, base_config
    from gankit.training import total_steps
    from gankit.tune import load_space

    assert "began" not in IMPLEMENTED and len(IMPLEMENTED) == len(LUCIC_OBJECTIVES) - 1
    for loss in IMPLEMENTED:
        base = base_config(loss, Options(scale=0.5), n=1000, n_images=60_000)
        space = load_space(lucic_space(loss), base)
        assert {"lr_g", "lr_d", "beta1_g", "beta1_d", "n_critic", "d_norm"} <= set(space)
        assert ("gp_weight" in space) == (loss in ("wgan-gp", "dragan"))
        assert ("clip_value" in space) == (loss == "wgan")
        assert base.train.epochs == 10.0 and base.log.eval_samples == 1000
        fastest = dataclasses.replace(base.train, n_critic=1)
        assert base.log.eval_every > total_steps(fastest, 60_000)  # no evaluation mid-run


@pytest.mark.parametrize(
    ("objectives", "expected"),
    [("began", "BEGAN is not implemented"), ("ns,lsgann", "'lsgann' is not one gankit can")],
)
def test_lucic_unknown_objective_is_one_line(objectives, expected, capsys, tmp_path):
    argv = ["reproduce", "lucic-fashion", "--objectives", objectives, "--out", tmp_path / "x"]
    assert gankit(*argv) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # a study of trainings
@realdata
def test_lucic_tiny_study_reports_beside_the_paper(tmp_path, capsys):
    out = tmp_path / "lucic"
    argv = ["reproduce", "lucic", *TINY, "--trials", "1", "--objectives", "dragan", "--out", out]
    assert gankit(*argv) == 0
    md = (out / "REPORT.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| DRAGAN |"))
    fid = float(row.split("| 27.7 / ")[1].split(" |")[0])
    assert fid > 0 and "| 1 / 0 / 0 |" in row
    assert "| BEGAN | 22.9 / not implemented |" in md and "auto-encoder" in md
    assert "| WGAN | 21.5 / skipped |" in md and "not chosen (--objectives)" in md
    assert "8 generated vs 8 fashion-mnist test images" in md
    assert "gp_weight" in row  # DRAGAN's lambda is searched
    trial = out / "dragan" / "trials" / "0000"
    assert not list(trial.rglob("training.safetensors"))  # finished: only its generator stays
    assert list(trial.rglob("generator.safetensors"))
    capsys.readouterr()
    assert gankit(*argv) == 0  # again: the study has its trial, the FID is read back
    said = capsys.readouterr().out
    assert "already has 1 finished trials" in said and "trial 1:" not in said
    assert "best trial 0000: FID " in said and "at its last step (1)" in said
