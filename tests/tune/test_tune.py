"""gankit tune: real Optuna studies of tiny runs on real SQLite, judged by the real metric."""

import hashlib
import json
import time

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution

from gankit import config as config_io
from gankit.cli import main
from gankit.errors import GankitError
from gankit.presets import PRESETS, get_preset
from gankit.run import open_run
from gankit.training import plan
from gankit.tune import default_space, load_space, run_study
from gankit.tune import objective as objectives
from gankit.tune import storage as tune_storage
from gankit.tune.space import parse_space
from gankit.tune.trial import trial_runs
from tests.support import tiny_config

SPACE = {
    "lr_g": {"dist": "loguniform", "low": 1e-4, "high": 1e-2},
    "g_width": {"dist": "categorical", "choices": [4, 8]},
}
DISTRIBUTIONS = {
    "lr_g": FloatDistribution(1e-4, 1e-2, log=True),
    "g_width": CategoricalDistribution([4, 8]),
}


def _base(**log):
    """The tiny conditional DCGAN, with as little per-trial work as a real run allows."""
    settings = {"sample_every": 0, "checkpoint_every": 0, "eval_every": 2} | log
    # 48 shapes: the dataset classifier (trained once per session) trains in half the time.
    return tiny_config(data={"shapes_count": 48}, train={"steps": 2}, log=settings)


def _study(study_dir):
    name = json.loads((study_dir / "study.json").read_text())["name"]
    url = tune_storage.default_url(study_dir)
    return optuna.load_study(study_name=name, storage=tune_storage.open_storage(url))


def _states(study_dir):
    return [t.state.name for t in _study(study_dir).get_trials()]


@pytest.mark.slow  # Optuna worker processes
def test_a_search_in_two_workers_leaves_runs_a_report_a_best_config_and_continues(
    tmp_path, monkeypatch
):
    # Three trials by two worker processes sharing one SQLite file (one runs two).
    lines = []
    result = run_study(
        _base(), study_dir=tmp_path / "s", trials=3, space=SPACE, workers=2, say=lines.append
    )
    assert (result.n_complete, result.n_pruned, result.n_failed) == (3, 0, 0)
    assert result.objective == "classifier_fid" and result.direction == "minimize"
    assert sum(line.endswith("(2 at a time) in " + str(tmp_path / "s")) for line in lines) == 1
    # Every worker's progress lines came back through the queue.
    assert sum("classifier_fid" in line and "best at step" in line for line in lines) == 3
    trials = _study(tmp_path / "s").get_trials()
    assert [t.number for t in trials] == [0, 1, 2]  # no trial lost between the workers
    assert len({t.params["lr_g"] for t in trials}) == 3  # their samplers draw apart
    assert result.best_value == min(t.value for t in trials)
    assert result.best_run.parent == tmp_path / "s" / "trials"
    assert result.best_params == trials[[t.value for t in trials].index(result.best_value)].params
    for t in trials:  # every trial is an ordinary run, its best checkpoint the trial's value
        run = open_run(tmp_path / "s" / t.user_attrs["run"])
        assert run.checkpoint_steps() == [2]
        assert run.config().model.g_width == t.params["g_width"]
        assert run.best()["classifier_fid"] == pytest.approx(t.value)
    assert [r.path.name for r in trial_runs(tmp_path / "s")] == ["0000", "0001", "0002"]
    md = result.report.read_text()
    assert "| trial | state | classifier_fid | minutes | stopped | run | lr_g | g_width |" in md
    assert md.count("| complete |") == 3 and "needs at least 4 complete trials" in md
    html = (tmp_path / "s" / "study.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html  # the history, embedded
    assert any(line.startswith("best: trial") for line in lines)

    # A trial whose process was killed (RUNNING, heartbeat gone silent) is failed and run
    # again with the same values when the study is re-run.
    monkeypatch.setattr(tune_storage, "HEARTBEAT_S", 1)
    monkeypatch.setattr(tune_storage, "GRACE_S", 1)
    study = _study(tmp_path / "s")
    with pytest.warns(UserWarning, match="Heartbeat"):  # Optuna: heartbeats are for optimize()
        killed = study.ask(DISTRIBUTIONS)
    killed.set_user_attr("stop", "running")
    study._storage.record_heartbeat(killed._trial_id)
    silent_since = time.monotonic()

    # best.yaml is the best trial's complete config, and gankit train takes it.
    assert config_io.load(result.best_config) == open_run(result.best_run).config()
    args = ["train", "--config", str(result.best_config), "--steps", "2", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "again")]) == 0

    time.sleep(max(0.0, 2.2 - (time.monotonic() - silent_since)))  # SQLite counts seconds
    lines.clear()
    again = run_study(_base(), study_dir=tmp_path / "s", trials=4, space=SPACE, say=lines.append)
    assert f"trial {killed.number} was interrupted: its parameters are queued to run again" in lines
    trials = _study(tmp_path / "s").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 + ["FAIL", "COMPLETE"]
    retry = trials[4]
    assert retry.params == killed.params and retry.system_attrs["failed_trial"] == killed.number
    assert open_run(tmp_path / "s" / retry.user_attrs["run"]).checkpoint_steps() == [2]
    assert again.n_complete == 4 and again.n_failed == 1
    assert f"| interrupted; run again as trial {retry.number} |" in again.report.read_text()
    assert "Not computed" not in again.report.read_text()  # importance, from 4 complete trials


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.slow  # several tiny studies
def test_the_command_refuses_bad_input_continues_and_prunes(tmp_path, capsys):
    base = _base()
    base.train.steps = 6  # evaluations at steps 2, 4, 6: pruning may start at the second
    config_io.save(base, tmp_path / "tiny.yaml")
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    study = tmp_path / "s"
    command = ["tune", "--config", str(tmp_path / "tiny.yaml"), "--study", str(study)]
    first_run = [*command, "--space", str(tmp_path / "space.yaml"), "--trials", "1"]
    # A time budget so short that the trial stops after one step, between two evaluations:
    # its last checkpoint is evaluated then, and marked best.
    assert main([*first_run, "--minutes-per-trial", "1e-9"]) == 0
    assert "train the best: gankit train --config" in capsys.readouterr().out
    (first,) = _study(study).get_trials()
    assert first.user_attrs["stop"] == "time budget" and first.user_attrs["steps"] == 1
    assert first.user_attrs["best_step"] == 1 and first.intermediate_values == {}
    run = open_run(study / first.user_attrs["run"])
    assert run.best_step() == 1
    assert run.config().train.max_minutes == 1e-9

    # Bad input: one line on stderr, a non-zero exit, and the study as it was.
    db = hashlib.sha256((study / "study.db").read_bytes()).hexdigest()
    before = _tree(study)

    def space(spec):
        path = tmp_path / f"bad-{len(list(tmp_path.glob('bad-*')))}.yaml"
        path.write_text(yaml.safe_dump(spec))
        return ["--space", str(path), "--trials", "2"]

    unlabelled = ["--no-use-labels", "--conditioning", "none", "--objective", "classifier_fid"]
    bad = {
        "unknown config field 'lr_gg' - did you mean 'lr_g'": space({"lr_gg": SPACE["lr_g"]}),
        "unknown dist 'normal'": space({"lr_g": {"dist": "normal", "low": 1, "high": 2}}),
        "low 0.01 is above high 0.0001": space(
            {"lr_g": {"dist": "loguniform", "low": 0.01, "high": 1e-4}}
        ),
        "categorical needs a non-empty list": space({"g_width": {"dist": "categorical"}}),
        "the field is not a number": space({"n_critic": {"dist": "uniform", "low": 1, "high": 2}}),
        "shapes has no labels in this config - use --objective fid": ["--trials", "2", *unlabelled],
        "unknown objective 'fidd' - did you mean 'fid'": ["--trials", "2", "--objective", "fidd"],
        "optimises classifier_fid, not fid": ["--trials", "2", "--objective", "fid"],
        "--trials must be a positive number of trials, got 0": ["--trials", "0"],
        "--workers must be at least 1": ["--trials", "2", "--workers", "0"],
        "the base config differs": [*space(SPACE), "--batch-size", "8"],
        "g_width is searched as one of 4, 8, 16 now but as one of 4, 8": ["--trials", "2"],
        "keeps its trials in study.db": ["--trials", "2", "--storage", "sqlite:////tmp/x.db"],
    }
    for expected, args in bad.items():
        assert main([*command, *args]) != 0, expected
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and expected in err, (expected, err)
        assert not out.strip(), out
    assert _tree(study) == before
    assert hashlib.sha256((study / "study.db").read_bytes()).hexdigest() == db

    # An unreachable storage: one line, and no study folder is made.
    for url in ("sqlite:////no/such/folder/x.db", "nosuchdb://host/x"):
        new = tmp_path / "new"
        assert main([*command[:3], "--study", str(new), "--trials", "1", "--storage", url]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot open the study storage" in err
        assert not new.exists()

    # The same command again continues the study: nothing is missing, nothing runs.
    assert main(first_run) == 0
    assert "already has 1 finished trials" in capsys.readouterr().out
    assert _states(study) == ["COMPLETE"]

    # Pruning: after three trials that were perfect at every evaluation, the next one is
    # worse than the median (0) at its second evaluation, whatever its values.
    optuna_study = _study(study)
    for _ in range(3):
        perfect = optuna.trial.create_trial(
            params={"lr_g": 1e-3, "g_width": 8},
            distributions=DISTRIBUTIONS,
            value=0.0,
            intermediate_values={1: 0.0, 2: 0.0, 3: 0.0},
            user_attrs={"run": "trials/elsewhere", "stop": "finished"},
        )
        optuna_study.add_trial(perfect)
    result = run_study(base, study_dir=study, trials=5, space=SPACE, say=lambda line: None)
    pruned = _study(study).get_trials()[-1]
    assert pruned.state.name == "PRUNED" and result.n_pruned == 1
    assert sorted(pruned.intermediate_values) == [1, 2]
    reason = pruned.user_attrs["prune_reason"]
    assert "best classifier_fid" in reason
    assert "by step 4 (evaluation 2) is worse than the median 0 of 3 complete trials" in reason
    run = open_run(study / pruned.user_attrs["run"])
    assert run.checkpoint_steps() == [2, 4]  # StopTraining: logged, checkpointed, ended
    logged = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert [r["step"] for r in logged if "classifier_fid" in r] == [2, 4]
    assert "pruned: best classifier_fid" in result.report.read_text()
    # The best trial is now an injected one, without a run folder: no best.yaml is
    # written for it, and the report says so instead of failing.
    assert result.best_config is None and "trials/elsewhere is gone" in result.report.read_text()


def test_space_files_are_checked_field_by_field(tmp_path):
    space = parse_space(
        {
            "lr-d": {"dist": "loguniform", "low": "1e-5", "high": "1e-3"},  # YAML 1.1 text
            "n_critic": {"dist": "int", "low": 1, "high": 5},
            "beta1_g": {"dist": "uniform", "low": 0.0, "high": 0.9, "step": 0.1},
            "g_hidden": {"dist": "categorical", "choices": [[32, 64], "64,128"]},
        }
    )
    assert space["lr_d"].low == 1e-5 and space["g_hidden"].choices == ("32,64", "64,128")
    bad = {
        "not a multiple of step": {
            "beta1_g": {"dist": "uniform", "low": 0, "high": 1, "step": 0.3}
        },
        "loguniform needs low > 0": {"lr_g": {"dist": "loguniform", "low": 0, "high": 1}},
        "expected a whole number": {"n_critic": {"dist": "int", "low": 1.5, "high": 5}},
        "choice .wide.: model.g_width: expected an integer": {
            "g_width": {"dist": "categorical", "choices": ["wide"]}
        },
        "takes low, high, step, not choices": {
            "lr_g": {"dist": "uniform", "low": 0, "high": 1, "choices": [1]}
        },
        "no dist given": {"lr_g": {"low": 0, "high": 1}},
        "filled in from the data": {"class_names": {"dist": "categorical", "choices": ["a"]}},
        "expected a mapping": {},
    }
    for expected, spec in bad.items():
        with pytest.raises(GankitError, match=expected):
            parse_space(spec)
    with pytest.raises(GankitError, match="no space file"):
        load_space(tmp_path / "missing.yaml", _base())


def test_unlabelled_data_is_judged_by_inception_fid():
    cfg = _base(eval_samples=8)
    cfg.data.use_labels, cfg.model.conditioning = False, "none"
    completed = plan(cfg).config
    obj = objectives.choose(None, completed)
    assert obj.name == "fid" and obj.direction == "minimize"
    assert "between 8 generated images" in objectives.describe(obj, completed)
    assert "8 real images of the test split" in objectives.describe(obj, completed)
    labelled = plan(_base()).config
    assert objectives.choose(None, labelled).name == "classifier_fid"
    assert objectives.choose("fid", labelled).name == "fid"


def test_every_preset_family_has_a_valid_default_space():
    for name in PRESETS.names():
        cfg = get_preset(name)
        space = load_space(None, cfg)
        assert {"lr_g", "lr_d"} <= set(space), name
        assert ("n_critic" in space) == cfg.loss.loss.startswith("wgan"), name
        assert ("gp_weight" in space) == (cfg.loss.loss in ("wgan-gp", "dragan")), name
    assert default_space(get_preset("fashion"))["g_width"]["choices"] == [16, 32, 64]
