"""The experiment configuration: plain data, one dataclass per concern.

The whole tree is written to a run's ``config.yaml`` before step 0 and is the
single source of truth for everything done with the run later. Loading and
saving round-trips to the same bytes. Every field is also a ``gankit train``
flag (``lr_g`` -> ``--lr-g``); an override must match the field's type, and
unknown keys are errors. This module does not import torch.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import GankitError


@dataclass
class DataConfig:
    dataset: str = "fashion-mnist"  # a built-in name (fashion-mnist, mnist, shapes), an image folder or a .csv file
    data_dir: str = ""  # where to look first for IDX files ('' = $GANKIT_DATA, cache, system)
    split: str = "train"  # train | test
    img_size: int = 0  # side in pixels the model works at; 0 = the dataset's own
    channels: int = 0  # 1 (grey) or 3 (RGB); 0 = the dataset's own
    use_labels: bool = True  # image folders: the first-level subfolder is the class
    hflip: bool = False  # random horizontal flips (p = 0.5), drawn per batch on the device
    vflip: bool = False  # random vertical flips (p = 0.5)
    min_images: int = 16  # fewer usable images than this is an error
    shapes_count: int = 10000  # built-in `shapes`: how many images to generate
    shapes_seed: int = 0  # built-in `shapes`: the seed they are generated from
    class_names: list[str] = field(
        default_factory=list
    )  # filled in from the data when a run starts


@dataclass
class ModelConfig:
    arch: str = "dcgan"  # mlp | dcgan | infogan (Lucic et al.'s 28 px nets)
    z_dim: int = 100  # noise dimensions
    conditioning: str = (
        "none"  # none | concat (label embedding joined to noise and D input) | projection
    )
    embed_dim: int = 50  # size of the label embedding given to G (and to an MLP D)
    g_width: int = 64  # dcgan: channels of G's finest hidden stage; doubles per coarser stage
    d_width: int = 64  # dcgan: channels of D's first stage; doubles per stage
    max_width: int = 1024  # dcgan: cap on channels per stage
    g_hidden: list[int] = field(default_factory=lambda: [256, 512, 1024])  # mlp: G hidden sizes
    d_hidden: list[int] = field(default_factory=lambda: [1024, 512, 256])  # mlp: D hidden sizes
    g_norm: str = "batch"  # batch | layer | none | spectral
    d_norm: str = "batch"  # batch | layer | none | spectral
    g_act: str = "relu"  # relu | leaky_relu
    d_act: str = "leaky_relu"  # relu | leaky_relu


@dataclass
class LossConfig:
    loss: str = "ns"  # minimax | ns (non-saturating) | wgan | wgan-gp | hinge | lsgan | dragan
    gp_weight: float = 10.0  # wgan-gp, dragan: lambda of the gradient penalty
    clip_value: float = 0.01  # wgan: critic weights are clipped to [-c, c]


@dataclass
class TrainConfig:
    steps: int = 0  # generator updates; 0 = derive from `epochs`
    epochs: float = 10.0  # passes of the real data through D (used when steps == 0)
    batch_size: int = 64  # real images per D step (global, across all ranks)
    n_critic: int = 1  # D updates per G update
    optimizer: str = "adam"  # adam | rmsprop
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1_g: float = 0.5  # Adam betas (ignored by RMSprop)
    beta2_g: float = 0.999
    beta1_d: float = 0.5
    beta2_d: float = 0.999
    ema_halflife_images: int = 0  # EMA of G's weights with this half-life in images; 0 = no EMA
    seed: int = 0  # controls all randomness: init, data order, noise
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    bf16: bool = (
        True  # bf16 autocast on CUDA (ignored elsewhere: slower on CPUs without bf16 units)
    )
    compile: str = "auto"  # torch.compile G and D: on | off | auto (= on for CUDA, off on CPU)
    channels_last: str = "auto"  # conv nets in NHWC memory layout: on | off | auto (= on)
    max_minutes: float = 0.0  # stop with a checkpoint after this long; 0 = no limit


@dataclass
class LogConfig:
    log_every: int = 50  # steps between flushes of the per-step metrics (one host sync per flush)
    sample_every: int = 500  # steps between sample grids (0 = only at the end)
    checkpoint_every: int = 2000  # steps between checkpoints (0 = only at the end)
    keep_training_states: int = 2  # full training states kept (G snapshots are all kept); 0 = all
    sample_count: int = 64  # images in an unconditional sample grid (conditional: 10 per label)
    eval_every: int = (
        0  # steps between in-training metrics (classifier FID, class entropy); 0 = off
    )
    eval_samples: int = 1000  # generated (and real test) images per in-training evaluation


@dataclass
class Config:
    preset: str = ""  # the preset this config started from ('' = none)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)


SECTIONS = ("data", "model", "loss", "train", "log")


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Config) -> str:
    # Re-typed through from_dict so that e.g. epochs=20 is written as 20.0 every time.
    return yaml.safe_dump(
        to_dict(from_dict(to_dict(cfg))), sort_keys=False, default_flow_style=False
    )


def save(cfg: Config, path: Path) -> None:
    tmp = Path(path).with_suffix(".yaml.tmp")
    tmp.write_text(dump_yaml(cfg))
    tmp.replace(path)


def read_yaml(path: Path, what: str = "config file") -> Any:
    """The parsed YAML at ``path``; a missing, unreadable or malformed file is one line."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GankitError(f"no {what} at {path} - check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GankitError(f"cannot read {what} {path} ({e}) - check the path") from None
    except yaml.YAMLError as e:
        raise GankitError(
            f"{what} {path} is not valid YAML ({str(e).splitlines()[0]}) - fix it"
        ) from None


def load(path: Path) -> Config:
    return from_dict(read_yaml(path) or {}, source=str(path))


def from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Builds a Config from nested dicts; unknown keys and wrong types are errors."""
    if not isinstance(raw, dict):
        raise GankitError(f"{source}: expected a mapping of sections ({', '.join(SECTIONS)})")
    cfg = Config()
    for key, value in raw.items():
        if key == "preset":
            cfg.preset = _coerce(str, value, f"{source}: preset")
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise GankitError(f"{source}: section {key!r} must be a mapping")
            section = getattr(cfg, key)
            for name, v in value.items():
                _set_field(section, name, v, f"{source}: {key}.{name}")
        else:
            raise GankitError(
                f"{source}: unknown key {key!r} (valid: preset, {', '.join(SECTIONS)})"
            )
    return cfg


def field_index() -> dict[str, tuple[str, type]]:
    """Flat field name -> (section, type). Field names are unique across sections."""
    index: dict[str, tuple[str, type]] = {}
    for section in SECTIONS:
        cls = type(getattr(Config(), section))
        for name, tp in typing.get_type_hints(cls).items():
            assert name not in index, f"config field {name!r} appears in two sections"
            index[name] = (section, tp)
    return index


def override(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Returns a copy of ``cfg`` with flat ``{field: value}`` overrides applied.

    Values may be typed or strings (from the command line); both are checked.
    """
    cfg = from_dict(to_dict(cfg))
    index = field_index()
    for name, value in overrides.items():
        if name not in index:
            from gankit.registry import unknown_name_message

            raise GankitError(unknown_name_message("option", name, sorted(index)))
        section, _ = index[name]
        _set_field(getattr(cfg, section), name, value, f"--{name.replace('_', '-')}")
    return cfg


def _set_field(section: Any, name: str, value: Any, where: str) -> None:
    hints = typing.get_type_hints(type(section))
    if name not in hints:
        raise GankitError(f"{where}: unknown option (valid: {', '.join(hints)})")
    setattr(section, name, _coerce(hints[name], value, where))


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Converts ``value`` to ``tp`` (str, int, float, bool, list[int], list[str]) or fails clearly."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise GankitError(f"{where}: expected a list, got {value!r}")
        return [_coerce(item, v, where) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise GankitError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise GankitError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        raise GankitError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise GankitError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise GankitError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise GankitError(f"{where}: expected text, got {value!r}")
    raise TypeError(f"unsupported config type {tp!r}")
