"""The public API: what ``import gankit`` offers, end to end on a tiny run."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gankit
from gankit.errors import GankitError
from tests.support import realdata, tiny_config


def test_the_contract_is_all_and_every_name_resolves():
    assert sorted(gankit.__all__) == sorted(gankit._EXPORTS)
    for name in gankit.__all__:
        assert getattr(gankit, name) is not None, name
    with pytest.raises(AttributeError):
        gankit.no_such_thing  # noqa: B018


def test_importing_gankit_does_not_load_torch():
    code = "import sys, gankit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # trains two or three runs and compares them
def test_train_load_generate_resume(tmp_path):
    cfg = tiny_config(train={"steps": 2})
    result = gankit.train(cfg, out=tmp_path / "run", steps=3)  # an override on top
    assert result.step == 3 and result.stopped == "finished"
    model = gankit.load(tmp_path / "run")
    assert model.step == 3
    images = model.generate(4, labels=model.class_names[0], seed=5)
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.uint8
    assert gankit.to_pil(images)[0].size == (32, 32)
    more = gankit.resume(tmp_path / "run", steps=5)
    assert more.step == 5 and gankit.load(tmp_path / "run").step == 5
    with pytest.raises(GankitError, match="--lr-d cannot change when resuming"):
        gankit.resume(tmp_path / "run", lr_d=1e-3)


def test_experiment_from_a_preset_a_file_or_a_config(tmp_path):
    cfg = gankit.experiment("fashion", steps=7)
    assert cfg.preset == "fashion" and cfg.train.steps == 7
    path = tmp_path / "config.yaml"
    from gankit import config as config_io

    config_io.save(cfg, path)
    assert gankit.experiment(path) == cfg and gankit.experiment(str(path)) == cfg
    assert gankit.experiment(cfg, batch_size=8).train.batch_size == 8
    with pytest.raises(GankitError, match="unknown preset"):
        gankit.experiment("fashon")
    with pytest.raises(GankitError, match="--batch-size: expected an integer"):
        gankit.experiment("fashion", batch_size="many")


def test_fid_between_a_run_and_a_dataset(tmp_path, fake_inception):
    gankit.train(tiny_config(train={"steps": 2}), out=tmp_path / "run")
    result = gankit.fid("shapes:test", tmp_path / "run", n=8, device="cpu")
    assert result["fid"] > 0 and result["protocol"]["network"] == "fake-net"
    with pytest.raises(GankitError, match="at least 2"):
        gankit.fid("shapes:test", tmp_path / "run", n=1)


@pytest.mark.slow
@realdata
def test_the_readme_python_block_runs(tmp_path, monkeypatch, fake_inception):
    """The README's "From Python" block, as written, on the real Fashion-MNIST files."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README, as a user runs it
    assert (tmp_path / "bag.png").is_file()
    assert gankit.load(tmp_path / "runs" / "py-fashion").step == 400
