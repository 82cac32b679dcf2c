import dataclasses
import json
import math

import pytest
import torch

from gankit import training
from gankit.checkpoint import GENERATOR_FILE, TRAINING_FILE, load_generator, read_tensors
from gankit.errors import GankitError
from gankit.losses import LOSSES
from gankit.models import build_models
from gankit.run import open_run
from gankit.sampling import generate
from gankit.training.plot import loss_panels, plot_losses
from tests.support import realdata, straight_and_resumed, tiny_config


def _metrics(run):
    return [json.loads(line) for line in run.metrics_path.read_text().splitlines()]


def test_a_tiny_run_writes_the_whole_run_folder(tmp_path):
    result = training.train(tiny_config(), tmp_path / "run", progress=False)
    run = open_run(tmp_path / "run")
    assert result.stopped == "finished" and result.step == 6
    assert run.checkpoint_steps() == [3, 6]
    assert [p.name for p in sorted(run.samples_dir.iterdir())] == [
        "step_0000003.png",
        "step_0000006.png",
    ]
    assert run.losses_path.stat().st_size > 0
    rows = _metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "distance", "epoch"} <= set(rows[0])
    cfg = run.config()
    assert cfg.data.img_size == 32 and cfg.data.channels == 3
    assert cfg.data.class_names == ["circle", "square", "triangle"]
    G, _, state = load_generator(run)
    assert state["step"] == 6 and state["images_seen"] == 6 * 16
    assert G(torch.zeros(2, 16), torch.tensor([0, 1])).shape == (2, 3, 32, 32)


def test_samples_by_epochs_land_where_the_passes_end_also_after_a_resume(tmp_path):
    # 96 images in batches of 20: two passes (192 images) end within step 10 (200 seen).
    log = {"sample_every": 0, "sample_every_epochs": 2, "checkpoint_every": 5}
    cfg = tiny_config(train={"batch_size": 20, "steps": 5}, log=log)
    training.train(cfg, tmp_path / "run", progress=False)
    run = open_run(tmp_path / "run")
    longer = run.config()
    longer.train.steps = 12
    training.resume(run, longer, progress=False)
    names = sorted(p.name for p in run.samples_dir.iterdir())
    assert names == ["step_0000005.png", "step_0000010.png", "step_0000012.png"]


def _weights(run, step):
    return read_tensors(run.checkpoint_dir(step), TRAINING_FILE)


AUGMENTED = {
    "diffaug": "translation,cutout,color",
    "diffaug_p": 0.5,
    "ada_target": 0.6,
    "ada_speed_images": 200,  # p moves visibly within the run
}


@pytest.mark.slow  # trains two or three runs and compares them
@pytest.mark.parametrize("loss", ["hinge", "wgan-gp", "hinge+diffaug+r1", "hinge+crop+rotation"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, loss):
    extra = {"n_critic": 2} if loss == "wgan-gp" else {}
    losses, data = {"loss": loss}, {"hflip": True}
    if loss == "hinge+diffaug+r1":
        extra, losses = AUGMENTED, {"loss": "hinge", "r1_gamma": 1.0, "r1_every": 4}
    if loss == "hinge+crop+rotation":  # on channel-normalised images
        losses = {"loss": "hinge"}
        data |= {"crop_padding": 3, "rotate_degrees": 15.0, "normalize": "channel"}
    sections = {"loss": losses, "data": data, "train": extra}
    straight, resumed = straight_and_resumed(sections, tmp_path)

    a, b = _weights(straight, 6), _weights(resumed, 6)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["d_loss"] for r in _metrics(straight)] == [r["d_loss"] for r in _metrics(resumed)]
    if "r1" in loss:
        assert "ada.p" in a and a["ada.p"] != 0.5  # p moved and was carried across the resume
        assert [r["r1"] for r in _metrics(straight)] == [r["r1"] for r in _metrics(resumed)]


def test_augmentation_r1_and_ada_show_in_the_log(tmp_path):
    cfg = tiny_config(train=AUGMENTED, loss={"loss": "hinge", "r1_gamma": 1.0, "r1_every": 2})
    run = training.train(cfg, tmp_path / "run", progress=False).run
    rows = _metrics(run)
    assert all(r["r1"] > 0 for r in rows) and all(-1 <= r["d_real_sign"] <= 1 for r in rows)


@pytest.mark.parametrize(
    ("train", "loss", "message"),
    [
        ({"diffaug": "translation,cutot"}, {}, "unknown augmentation 'cutot' - did you mean"),
        ({"diffaug": "translation", "diffaug_p": 1.5}, {}, "--diffaug-p must be within"),
        ({"ada_target": 0.6}, {}, "--ada-target adapts --diffaug"),
        ({"diffaug": "cutout", "ada_target": 1.0}, {}, "--ada-target must be within"),
        ({}, {"r1_gamma": -1.0}, "--r1-gamma must be 0"),
        ({}, {"r1_every": 0}, "--r1-every must be at least 1"),
    ],
)
def test_bad_augmentation_and_r1_settings_are_one_line(tmp_path, train, loss, message):
    with pytest.raises(GankitError, match=message):
        training.train(tiny_config(train=train, loss=loss), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # trains two or three runs and compares them
def test_non_finite_loss_stops_with_the_last_good_checkpoint(tmp_path, monkeypatch):
    hinge = LOSSES.get("hinge")
    calls = {"n": 0}
    original = hinge.d_loss

    def poisoned(self, D, real, fake, labels):
        loss, stats = original(self, D, real, fake, labels)
        calls["n"] += 1
        return (loss * math.nan if calls["n"] >= 5 else loss), stats

    monkeypatch.setattr(hinge, "d_loss", poisoned)
    with pytest.raises(
        GankitError, match="non-finite at step 5; the last good checkpoint is step 3"
    ):
        training.train(tiny_config(), tmp_path / "run", progress=False)
    run = open_run(tmp_path / "run")
    assert run.checkpoint_steps() == [3]
    monkeypatch.setattr(hinge, "d_loss", original)
    result = training.resume(run, progress=False)
    assert result.step == 6 and [r["step"] for r in _metrics(run)] == list(range(1, 7))


def test_time_budget_stops_with_a_checkpoint(tmp_path):
    cfg = tiny_config(train={"steps": 10_000, "max_minutes": 1e-9})
    result = training.train(cfg, tmp_path / "run", progress=False)
    assert result.stopped == "time budget" and result.step == 1
    assert open_run(tmp_path / "run").checkpoint_steps() == [1]


def test_pruning_keeps_generators_but_few_training_states(tmp_path):
    cfg = tiny_config(log={"checkpoint_every": 2, "keep_training_states": 1})
    run = training.train(cfg, tmp_path / "run", progress=False).run
    assert run.checkpoint_steps() == [2, 4, 6]
    assert [(run.checkpoint_dir(s) / TRAINING_FILE).exists() for s in (2, 4, 6)] == [
        False,
        False,
        True,
    ]
    assert all((run.checkpoint_dir(s) / GENERATOR_FILE).exists() for s in (2, 4, 6))


@pytest.mark.parametrize(
    "arch, loss, conditioning",
    [
        ("mlp", "minimax", "none"),
        ("mlp", "wgan", "concat"),
        ("dcgan", "ns", "concat"),
    ],
)
def test_families_and_objectives_train_end_to_end(tmp_path, arch, loss, conditioning):
    cfg = tiny_config(
        model={
            "arch": arch,
            "conditioning": conditioning,
            "g_hidden": [32],
            "d_hidden": [32],
            "d_norm": "none",
        },
        loss={"loss": loss},
        train={"steps": 3, "ema_halflife_images": 0},
    )
    if loss == "wgan":
        cfg.train.optimizer, cfg.train.n_critic = "rmsprop", 2
    torch.manual_seed(cfg.train.seed)
    G0, D0 = build_models(cfg.model, img_size=32, channels=3, num_classes=3)  # the step-0 nets
    result = training.train(cfg, tmp_path / "run", progress=False)
    assert result.step == 3 and result.images_seen == 3 * cfg.train.n_critic * 16
    rows = _metrics(result.run)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)
    # Both networks learned something, and D kept to its objective's constraint.
    trained = _weights(result.run, 3)
    for prefix, net in (("G.", G0), ("D.", D0)):
        moved = [
            not torch.equal(trained[prefix + k], v)
            for k, v in net.state_dict().items()
            if v.is_floating_point()
        ]
        assert any(moved), prefix
    d_weights = [v for k, v in trained.items() if k.startswith("D.") and v.is_floating_point()]
    if loss == "wgan":
        assert max(v.abs().max().item() for v in d_weights) <= cfg.loss.clip_value
    G, _, _ = load_generator(result.run, "latest")
    images = generate(
        G, torch.randn(2, cfg.model.z_dim), torch.tensor([0, 1]) if conditioning != "none" else None
    )
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.uint8


def test_plan_says_what_train_would_do():
    cfg = tiny_config()
    assert cfg.data.channels == 0 and cfg.data.class_names == []  # left to the data
    planned = training.plan(cfg)
    assert planned.config.data.img_size == 32 and planned.config.data.channels == 3
    assert planned.config.data.class_names == ["circle", "square", "triangle"]
    n_train = planned.n_images
    assert n_train == 96 and planned.total_steps == 6  # the train split: all 96
    epochs = dataclasses.replace(cfg.train, steps=0, epochs=2.5)
    batches = math.ceil(2.5 * n_train / (cfg.train.batch_size * cfg.train.n_critic))
    assert training.total_steps(epochs, n_train) == batches
    with pytest.raises(GankitError, match="larger than the dataset"):
        training.plan(tiny_config(train={"batch_size": 1000}))


def test_bad_combinations_fail_before_any_folder_is_made(tmp_path):
    cfg = tiny_config(data={"dataset": "shapes", "use_labels": False})
    with pytest.raises(GankitError, match="labelled"):
        training.train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(GankitError, match="larger than the dataset"):
        training.train(tiny_config(train={"batch_size": 1000}), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@realdata
def test_the_fashion_preset_trains_on_the_real_files(tmp_path):
    from gankit import config as config_io
    from gankit.presets import get_preset

    cfg = config_io.override(
        get_preset("fashion"),
        {"steps": 3, "batch_size": 16, "g_width": 8, "d_width": 8, "device": "cpu"},
    )
    run = training.train(cfg, tmp_path / "run", progress=False).run
    cfg = run.config()
    assert cfg.data.img_size == 28 and cfg.data.channels == 1
    assert cfg.data.class_names[5] == "sandal" and len(cfg.data.class_names) == 10


def test_every_statistic_of_the_objective_is_logged_by_its_key(tmp_path):
    cfg = tiny_config(loss={"loss": "wgan-gp"}, model={"d_norm": "layer"}, train={"steps": 2})
    run = training.train(cfg, tmp_path / "run", progress=False).run
    columns = ["step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "distance"]
    for row in _metrics(run):
        # The columns earlier runs had keep their places; the penalty and D(G(z)) after
        # D's update follow.
        assert list(row)[:9] == [*columns, "gp", "d_fake_g"]
        assert row["gp"] >= 0 and math.isfinite(row["d_fake_g"])


@pytest.mark.slow  # trains two or three runs and compares them
def test_resume_reads_a_log_with_other_columns(tmp_path):
    cfg = tiny_config(loss={"loss": "wgan-gp"}, model={"d_norm": "layer"}, train={"steps": 3})
    run = training.train(cfg, tmp_path / "run", progress=False).run
    # As a run logged before the penalty was: no gp column, and one that is gone since.
    rows = [{**{k: v for k, v in r.items() if k != "gp"}, "old": 1.0} for r in _metrics(run)]
    run.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = run.config()
    cfg.train.steps = 6
    training.resume(run, cfg, progress=False)
    rows = _metrics(run)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert ["gp" in r for r in rows] == [False] * 3 + [True] * 3
    assert run.losses_path.stat().st_size > 0


def test_the_loss_plot_labels_its_panels_from_the_logged_keys(tmp_path):
    nan = math.nan
    history = {
        "step": [1, 2],
        "epoch": [0.1, 0.2],
        "d_loss": [1.0, 0.5],
        "g_loss": [0.3, 0.4],
        "d_real": [0.2, 0.1],
        "d_fake": [-0.1, 0.0],
        "distance": [0.3, 0.1],
        "gp": [nan, 2.0],
        "d_fake_g": [0.0, 0.1],
        "never": [nan, nan],
    }
    assert loss_panels(history, "Wasserstein estimate") == [
        ("loss", ("d_loss", "g_loss")),
        ("D scores (real vs fake)", ("d_real", "d_fake", "d_fake_g")),
        ("Wasserstein estimate", ("distance",)),
        ("gp", ("gp",)),
    ]
    plot_losses(history, tmp_path / "losses.png", "Wasserstein estimate")
    assert (tmp_path / "losses.png").stat().st_size > 0


class Scripted:
    """An ``evaluate`` that returns the given classifier FIDs in turn and notes each step."""

    def __init__(self, values, higher_is_better=False, stop_at_call=None):
        self.values, self.higher_is_better = iter(values), higher_is_better
        self.stop_at_call, self.steps = stop_at_call, []

    def __call__(self, G, step):
        self.steps.append(step)
        scores = {"classifier_fid": next(self.values), "class_entropy": 0.9}
        if len(self.steps) == self.stop_at_call:
            raise training.StopTraining("pruned", scores)
        return scores


def _train_with(evaluate, path, **log):
    def make_evaluate(cfg, device):
        assert cfg.data.class_names  # the completed config
        return evaluate

    cfg = tiny_config(log={"eval_every": 2, "checkpoint_every": 0, **log})
    return training.train(cfg, path, progress=False, make_evaluate=make_evaluate)


def test_eval_every_logs_scores_and_keeps_the_best(tmp_path):
    evaluate = Scripted([5.0, 3.0, 4.0])
    run = _train_with(evaluate, tmp_path / "run").run
    assert evaluate.steps == [2, 4, 6]
    rows = {r["step"]: r for r in _metrics(run)}
    assert [rows[s]["classifier_fid"] for s in (2, 4, 6)] == [5.0, 3.0, 4.0]
    assert "classifier_fid" not in rows[3]
    assert run.checkpoint_steps() == [2, 4, 6]  # improvements are kept, and the final one
    assert run.resolve_checkpoint("best") == run.checkpoint_dir(4)


@pytest.mark.slow  # trains two or three runs and compares them
def test_a_higher_is_better_metric_picks_the_highest_as_best(tmp_path):
    run = _train_with(Scripted([3.0, 5.0, 4.0], higher_is_better=True), tmp_path / "up").run
    assert run.checkpoint_steps() == [2, 4, 6]
    assert run.resolve_checkpoint("best") == run.checkpoint_dir(4)
    run = _train_with(Scripted([5.0, 3.0, 4.0], higher_is_better=True), tmp_path / "down").run
    assert run.checkpoint_steps() == [2, 6]  # no later score beat the first
    assert run.resolve_checkpoint("best") == run.checkpoint_dir(2)


@pytest.mark.slow  # trains two or three runs and compares them
def test_a_non_finite_score_never_becomes_the_best(tmp_path):
    run = _train_with(Scripted([math.nan, 4.0, 5.0]), tmp_path / "run").run
    assert run.checkpoint_steps() == [4, 6]
    assert run.resolve_checkpoint("best") == run.checkpoint_dir(4)


@pytest.mark.slow  # trains two or three runs and compares them
def test_evaluate_is_told_the_step_also_after_a_resume(tmp_path):
    first, then = Scripted([5.0]), Scripted([6.0, 4.0])
    cfg = tiny_config(train={"steps": 3}, log={"eval_every": 2, "checkpoint_every": 0})
    run = training.train(cfg, tmp_path / "run", progress=False, make_evaluate=lambda c, d: first)
    assert first.steps == [2] and run.run.checkpoint_steps() == [2, 3]
    cfg = run.run.config()
    cfg.train.steps = 6
    training.resume(run.run, cfg, progress=False, make_evaluate=lambda c, d: then)
    assert then.steps == [4, 6]  # the training step, not a count of this session's calls
    # The best so far (5.0 at step 2) came back from the run: 6.0 did not beat it.
    assert run.run.checkpoint_steps() == [2, 3, 6]
    assert run.run.resolve_checkpoint("best") == run.run.checkpoint_dir(6)


def test_evaluate_can_stop_the_run_after_logging_its_scores(tmp_path):
    result = _train_with(Scripted([7.0, 9.0], stop_at_call=2), tmp_path / "run")
    assert (result.stopped, result.step) == ("pruned", 4)
    rows = {r["step"]: r for r in _metrics(result.run)}
    assert rows[4]["classifier_fid"] == 9.0
    assert result.run.checkpoint_steps() == [2, 4]  # the stopping step is checkpointed
