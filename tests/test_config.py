import dataclasses

import pytest
import yaml

from gankit import config as config_io
from gankit.config import Config
from gankit.errors import GankitError
from gankit.presets import PRESETS, get_preset


def test_yaml_round_trip_is_byte_identical(tmp_path):
    cfg = get_preset("fashion")
    path = tmp_path / "config.yaml"
    config_io.save(cfg, path)
    first = path.read_text()
    config_io.save(config_io.load(path), path)
    assert path.read_text() == first
    assert config_io.load(path) == cfg


def test_overrides_are_typed():
    cfg = config_io.override(
        Config(), {"lr_g": "1e-3", "g_hidden": "32,64", "hflip": "yes", "steps": 10, "epochs": 3}
    )
    assert cfg.train.lr_g == 1e-3 and cfg.model.g_hidden == [32, 64]
    assert cfg.data.hflip is True and cfg.train.steps == 10 and cfg.train.epochs == 3.0
    assert isinstance(cfg.train.epochs, float)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lr_g": "fast"}, "expected a number"),
        ({"steps": "1.5"}, "expected an integer"),
        ({"steps": True}, "expected an integer"),
        ({"hflip": "maybe"}, "expected true or false"),
        ({"lr": 1e-3}, "unknown option 'lr'"),
    ],
)
def test_bad_overrides_are_one_line_errors(overrides, message):
    with pytest.raises(GankitError, match=message) as e:
        config_io.override(Config(), overrides)
    assert "\n" not in str(e.value)


def test_unknown_keys_in_a_file_are_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"stepz": 3}}))
    with pytest.raises(GankitError, match="stepz"):
        config_io.load(path)
    path.write_text("train: [1, 2")
    with pytest.raises(GankitError, match="not valid YAML"):
        config_io.load(path)


def test_a_folder_or_binary_file_given_as_config_is_one_line(tmp_path):
    with pytest.raises(GankitError, match="cannot read config file"):
        config_io.load(tmp_path)  # a directory: IsADirectoryError
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(GankitError, match="cannot read config file"):
        config_io.load(tmp_path / "c.yaml")


def test_field_names_are_unique_across_sections():
    index = config_io.field_index()
    assert index["lr_g"][0] == "train" and index["dataset"][0] == "data"


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_round_trips_and_names_itself(name):
    cfg = get_preset(name)
    assert cfg.preset == name
    assert config_io.from_dict(yaml.safe_load(config_io.dump_yaml(cfg))) == cfg


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(GankitError, match="did you mean 'fashion-gan'"):
        get_preset("fashion-gann")


def test_every_config_field_says_what_it_means():
    for name, f in config_io.knobs().items():
        assert f.metadata.get("help"), f"{name} has no help text"
    assert dataclasses.fields(Config)[0].metadata["help"]  # preset, outside the sections


def test_the_sets_read_from_the_fields_are_the_ones_the_code_relies_on():
    from gankit import training
    from gankit.cli.options import DERIVED
    from gankit.tune.space import NOT_SEARCHABLE
    from gankit.tune.study import FREE

    runtime = {"device", "bf16", "compile", "channels_last", "max_minutes"}
    log = {
        "log_every",
        "sample_every",
        "sample_every_epochs",
        "checkpoint_every",
        "keep_training_states",
        "sample_count",
        "eval_every",
        "eval_samples",
    }
    assert training.RESUMABLE == {"steps", "epochs"} | runtime | log
    assert FREE == runtime | {"class_names"}
    assert DERIVED == NOT_SEARCHABLE == {"class_names"}


def test_list_defaults_are_not_shared_between_configs():
    a, b = Config(), Config()
    a.model.g_hidden.append(8)
    a.data.class_names.append("cat")
    assert b.model.g_hidden == [256, 512, 1024] and b.data.class_names == []


def test_help_comes_from_the_fields_with_units_and_no_derived_flag():
    import argparse

    from gankit.cli.options import add_config_flags

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    text = parser.format_help()
    assert "G's learning rate (default: 0.0002)" in text
    assert "(default: 0 images)" in text  # ema_halflife_images, with its unit
    assert "--class-names" not in text
    args = parser.parse_args(["--lr-g", "1e-3", "--no-bf16"])
    assert args.cfg_lr_g == "1e-3" and args.cfg_bf16 is False and args.cfg_steps is None


def test_preset_summaries_are_written_from_their_configs():
    from dataclasses import replace

    from gankit.config_summary import describe

    for name in PRESETS.names():
        preset = PRESETS.get(name)
        assert preset.summary.startswith(describe(preset.config))
    wgan = PRESETS.get("fashion-wgan")
    assert wgan.summary == (
        "conditional DCGAN (label embedding); wgan loss, clip 0.01; RMSprop lr 5e-05, "
        "5 D steps per G step, batch 256; 100 epochs"
    )
    cfg = replace(wgan.config, train=replace(wgan.config.train, steps=500, batch_size=32))
    assert "batch 32; 500 steps" in describe(cfg)
    assert describe(get_preset("flowers-gan")).endswith("needs --dataset FOLDER")
