"""The experiment configuration: plain data, one dataclass per concern.

The whole tree is written to a run's ``config.yaml`` before step 0 and is the
single source of truth for everything done with the run later. Loading and
saving round-trips to the same bytes. Every field is also a ``gankit train``
flag (``lr_g`` -> ``--lr-g``); an override must match the field's type, and
unknown keys are errors. What a field means, its unit and how it may be
treated (changed on resume, varied within a study, filled in from the data)
is stated once, on the field, by ``knob``; the flags' help and the sets below
are read from there. This module does not import torch.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gankit import durable, yaml_safe
from gankit.errors import GankitError
from gankit.registry import unknown_name_message
from gankit.values import coerce

# How a command line may spell a field where its name alone cannot say (see ``knob``).
CLI_KEYS = {"flag", "aliases", "choices", "metavar", "cli_default"}


def knob(
    default: Any,
    help: str,
    *,
    unit: str = "",
    resumable: bool = False,
    runtime: bool = False,
    derived: bool = False,
    bounds: tuple[float | None, float | None] = (None, None),
    **cli: Any,
) -> Any:
    """A dataclass field that carries its meaning.

    Args:
        default: the value when not given; a list is copied for each instance.
        help: what the knob does and what 0, '' or None mean for it (a flag's help).
        unit: what the number counts (images, steps, pixels), shown after the default.
        resumable: may change when a run is resumed (schedule, logging) without
            making it another experiment.
        runtime: how the run is executed, not what it computes (device, precision,
            time limit); implies resumable, and may differ between trials of a study.
        derived: filled in from the data when a run starts; not a flag, not searchable.
        bounds: (lowest, highest) value a config may hold, None for no limit; finer
            checks against the data come when a run starts.
        **cli: for command options only: ``flag`` (another name; a bool that is on by
            default is turned off by it), ``aliases``, ``choices``, ``metavar`` and
            ``cli_default`` (the command's default where the library's differs).
    """
    assert help, "every knob says what it means"
    assert set(cli) <= CLI_KEYS, f"unknown knob keys {sorted(set(cli) - CLI_KEYS)}"
    metadata = {
        "help": help,
        "unit": unit,
        "resumable": resumable or runtime,
        "runtime": runtime,
        "derived": derived,
        "bounds": bounds,
        **cli,
    }
    if isinstance(default, list):
        return field(default_factory=functools.partial(list, default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DataConfig:
    dataset: str = knob(
        "fashion-mnist",
        "a built-in name (fashion-mnist, mnist, shapes), an image folder, a .csv file, "
        "or nlvr:PATH (the NLVR release, each picture cut into its three boxes)",
    )
    data_dir: str = knob("", "where to look first for IDX files ('' = $GANKIT_DATA, cache, system)")
    split: str = knob("train", "train | test")
    img_size: int = knob(
        0, "side the model works at; 0 = the dataset's own", unit="pixels", bounds=(0, 4096)
    )
    channels: int = knob(0, "1 (grey) or 3 (RGB); 0 = the dataset's own")
    use_labels: bool = knob(True, "image folders: the first-level subfolder is the class")
    hflip: bool = knob(False, "random horizontal flips (p = 0.5), drawn per batch on the device")
    vflip: bool = knob(False, "random vertical flips (p = 0.5)")
    crop_padding: int = knob(
        0,
        "random crops: pad each side by this much (reflecting the edge) and cut img_size back "
        "out at a random offset, as torchvision's RandomCrop(size, padding); 0 = off",
        unit="pixels",
    )
    rotate_degrees: float = knob(
        0.0,
        "random rotations by an angle uniform in [-d, d], bilinear, corners filled by "
        "reflection; 0 = off, at most 180",
        unit="degrees",
    )
    normalize: str = knob(
        "minmax",
        "how pixels become model inputs: minmax (x/127.5 - 1, i.e. [-1, 1]) | channel "
        "((x/255 - mean_c) / std_c, so G's tanh reaches mean_c +- std_c)",
    )
    normalize_mean: list[float] = knob(  # noqa: RUF009
        [],
        "channel: each channel's mean on the [0, 1] scale; [] = measured over the training "
        "set when the run starts (and kept in config.yaml)",
    )
    normalize_std: list[float] = knob(  # noqa: RUF009
        [], "channel: each channel's standard deviation on the [0, 1] scale; [] = measured"
    )
    min_images: int = knob(16, "fewer usable images than this is an error", unit="images")
    shapes_count: int = knob(10000, "built-in `shapes`: how many images to generate", unit="images")
    shapes_seed: int = knob(0, "built-in `shapes`: the seed they are generated from")
    class_names: list[str] = knob(  # noqa: RUF009 - a fresh list per instance
        [], "the dataset's class names, filled in from the data when a run starts", derived=True
    )


@dataclass
class ModelConfig:
    arch: str = knob(
        "dcgan",
        "mlp | dcgan | infogan (Lucic et al.'s 28 px nets) | resnet (SNGAN/BigGAN residual nets)"
        " | keras (layer lists written as Keras summaries, --g-layers/--d-layers)",
    )
    z_dim: int = knob(100, "noise dimensions")
    conditioning: str = knob(
        "none",
        "none | concat (label embedding joined to noise and D input) | projection",
    )
    embed_dim: int = knob(50, "size of the label embedding given to G (and to an MLP D)")
    g_width: int = knob(
        64,
        "dcgan, resnet: width of G's finest hidden stage; doubles per coarser stage",
        unit="channels",
    )
    d_width: int = knob(
        64, "dcgan, resnet: width of D's first stage; doubles per stage", unit="channels"
    )
    max_width: int = knob(1024, "dcgan, resnet: cap on the width of any stage", unit="channels")
    # knob gives a list field a default_factory: each instance gets its own list.
    g_hidden: list[int] = knob([256, 512, 1024], "mlp: G hidden sizes")  # noqa: RUF009
    d_hidden: list[int] = knob([1024, 512, 256], "mlp: D hidden sizes")  # noqa: RUF009
    g_norm: str = knob("batch", "batch | layer | none | spectral")
    d_norm: str = knob("batch", "batch | layer | none | spectral")
    g_act: str = knob("relu", "relu | leaky_relu")
    d_act: str = knob("leaky_relu", "relu | leaky_relu")
    # The keras family: each network is a list of layers, one per row of Keras' summary.
    g_layers: list[str] = knob(  # noqa: RUF009
        [],
        "keras: G's layers in order, e.g. 'dense 6272 relu', 'reshape 128', 'upsample', "
        "'conv 64 k3 s2 valid', 'conv_t 64 s2', 'norm', 'leaky_relu', 'dropout', 'conv image', "
        "'tanh' (see gankit.models.sequential)",
    )
    d_layers: list[str] = knob(  # noqa: RUF009
        [],
        "keras: D's layers in order, ending in 'dense 1' (logits, no sigmoid); "
        "same words as --g-layers plus 'flatten', 'zero_pad'",
    )
    g_kernel: int = knob(5, "keras: kernel side of a G conv that names none", unit="pixels")
    d_kernel: int = knob(5, "keras: kernel side of a D conv that names none", unit="pixels")
    g_dropout: float = knob(0.0, "keras: rate of each 'dropout' layer in G, in [0, 1)")
    d_dropout: float = knob(0.25, "keras: rate of each 'dropout' layer in D, in [0, 1)")
    g_slope: float = knob(0.3, "keras: negative slope of G's 'leaky_relu' (0.3 = Keras' default)")
    d_slope: float = knob(0.3, "keras: negative slope of D's 'leaky_relu' (0.3 = Keras' default)")
    bn_momentum: float = knob(
        0.99,
        "keras: batch norm's Keras momentum, the weight of the old running statistics "
        "(0.99 = Keras' default; PyTorch's momentum is 1 minus this)",
    )


@dataclass
class LossConfig:
    loss: str = knob(
        "ns", "minimax | ns (non-saturating) | wgan | wgan-gp | hinge | lsgan | dragan"
    )
    gp_weight: float = knob(10.0, "wgan-gp, dragan: lambda of the gradient penalty")
    clip_value: float = knob(0.01, "wgan: critic weights are clipped to [-c, c]")
    r1_gamma: float = knob(
        0.0,
        "R1 penalty on real images, any loss: gamma/2 E|grad D(x)|^2 (Mescheder et al. 2018); "
        "0 = off",
    )
    r1_every: int = knob(
        1, "lazy R1: the penalty every k D steps, scaled by k (StyleGAN2)", unit="D steps"
    )


@dataclass
class TrainConfig:
    steps: int = knob(
        0, "generator updates; 0 = derive from `epochs`", resumable=True, bounds=(0, None)
    )
    epochs: float = knob(
        10.0,
        "passes of the real data through D (used when steps == 0)",
        resumable=True,
        bounds=(0, None),
    )
    batch_size: int = knob(
        64, "real images per D step (global, across all ranks)", unit="images", bounds=(1, None)
    )
    n_critic: int = knob(1, "D updates per G update", bounds=(1, None))
    optimizer: str = knob("adam", "adam | rmsprop")
    lr_g: float = knob(2e-4, "G's learning rate", bounds=(0, None))
    lr_d: float = knob(2e-4, "D's learning rate", bounds=(0, None))
    beta1_g: float = knob(0.5, "G's Adam beta1 (ignored by RMSprop)")
    beta2_g: float = knob(0.999, "G's Adam beta2 (ignored by RMSprop)")
    beta1_d: float = knob(0.5, "D's Adam beta1 (ignored by RMSprop)")
    beta2_d: float = knob(0.999, "D's Adam beta2 (ignored by RMSprop)")
    diffaug: str = knob(
        "",
        "differentiable augmentation of every image D sees, real and generated: a comma "
        "list of translation, cutout, color (colour images only); '' = none",
    )
    diffaug_p: float = knob(
        1.0, "probability of each augmentation per image (the start value when adaptive)"
    )
    ada_target: float = knob(
        0.0,
        "adapt diffaug_p so that E[sign D(real)] stays near this target (ADA: 0.6); 0 = fixed",
    )
    ada_speed_images: int = knob(
        500_000, "images over which the adaptive probability can move from 0 to 1", unit="images"
    )
    ema_halflife_images: int = knob(
        0, "EMA of G's weights with this half-life; 0 = no EMA", unit="images"
    )
    seed: int = knob(0, "controls all randomness: init, data order, noise")
    device: str = knob("auto", "auto | cpu | cuda | cuda:N | mps", runtime=True)
    bf16: bool = knob(
        True,
        "bf16 autocast on CUDA (ignored elsewhere: slower on CPUs without bf16 units)",
        runtime=True,
    )
    compile: str = knob(
        "auto",
        "torch.compile G and D: on | off | auto (= on for CUDA, off on CPU)",
        runtime=True,
    )
    channels_last: str = knob(
        "auto", "conv nets in NHWC memory layout: on | off | auto (= on)", runtime=True
    )
    max_minutes: float = knob(
        0.0,
        "stop with a checkpoint after this long; 0 = no limit",
        unit="minutes",
        runtime=True,
    )


@dataclass
class LogConfig:
    log_every: int = knob(
        50,
        "how often the per-step metrics are flushed (one host sync per flush)",
        unit="steps",
        resumable=True,
    )
    sample_every: int = knob(
        500,
        "how often a sample grid is saved; 0 = none by steps (the end always gets one)",
        unit="steps",
        resumable=True,
    )
    sample_every_epochs: int = knob(
        0,
        "also save a sample grid whenever this many passes of the data end; 0 = off",
        unit="epochs",
        resumable=True,
    )
    checkpoint_every: int = knob(
        2000, "how often a checkpoint is saved; 0 = only at the end", unit="steps", resumable=True
    )
    keep_training_states: int = knob(
        2, "full training states kept (G snapshots are all kept); 0 = all", resumable=True
    )
    sample_count: int = knob(
        64,
        "images in an unconditional sample grid (conditional: 10 per label)",
        unit="images",
        resumable=True,
    )
    eval_every: int = knob(
        0,
        "how often in-training metrics (classifier FID, class entropy) run; 0 = off",
        unit="steps",
        resumable=True,
    )
    eval_samples: int = knob(
        1000,
        "generated (and real test) images per in-training evaluation",
        unit="images",
        resumable=True,
    )


@dataclass
class Config:
    preset: str = knob("", "the preset this config started from ('' = none)")
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
    """Writes ``cfg`` to ``path`` atomically and durably (raises OSError if it cannot)."""
    durable.write_file(path, dump_yaml(cfg), fault="config.save")


def read_yaml(path: Path, what: str = "config file") -> Any:
    """The parsed YAML at ``path``; a missing, unreadable, malformed or hostile file is one line."""
    return yaml_safe.read(Path(path), what)


def load(path: Path) -> Config:
    raw = read_yaml(path)
    if raw is None:
        raise GankitError(
            f"config file {path} is empty - give at least one section, e.g. train: {{steps: 100}}"
        )
    return from_dict(raw, source=str(path))


def from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Builds a Config from nested dicts; unknown keys and wrong types are errors."""
    if not isinstance(raw, dict):
        raise GankitError(
            f"{source}: expected a mapping of sections ({', '.join(SECTIONS)}) - "
            "e.g. train: {steps: 100}"
        )
    cfg = Config()
    for key, value in raw.items():
        if key == "preset":
            cfg.preset = coerce(str, value, f"{source}: preset")
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise GankitError(
                    f"{source}: section {key!r} must be a mapping - e.g. {key}: {{name: value}}"
                )
            section = getattr(cfg, key)
            for name, v in value.items():
                _set_field(section, name, v, f"{source}: {key}.{name}")
        else:
            valid = ["preset", *SECTIONS]
            raise GankitError(f"{source}: {unknown_name_message('key', str(key)[:60], valid)}")
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


def knobs() -> dict[str, dataclasses.Field]:
    """Flat field name -> its ``dataclasses.Field``, whose metadata ``knob`` wrote."""
    return {
        f.name: f
        for section in SECTIONS
        for f in dataclasses.fields(type(getattr(Config(), section)))
    }


def marked(key: str) -> frozenset[str]:
    """The names of the fields whose metadata sets ``key`` (resumable, runtime, derived)."""
    return frozenset(name for name, f in knobs().items() if f.metadata.get(key))


# May change when a run is resumed: its schedule, logging and how it is executed.
# Anything else would silently make it a different experiment.
RESUMABLE = marked("resumable")
# How a run is executed, not what it computes.
RUNTIME = marked("runtime")
# Filled in from the data when a run starts; never typed.
DERIVED = marked("derived")


def override(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Returns a copy of ``cfg`` with flat ``{field: value}`` overrides applied.

    Values may be typed or strings (from the command line); both are checked.
    """
    cfg = from_dict(to_dict(cfg))
    index = field_index()
    for name, value in overrides.items():
        if name not in index:
            raise GankitError(unknown_name_message("option", name, sorted(index)))
        section, _ = index[name]
        _set_field(getattr(cfg, section), name, value, f"--{name.replace('_', '-')}")
    return cfg


def _set_field(section: Any, name: str, value: Any, where: str) -> None:
    hints = typing.get_type_hints(type(section))
    if name not in hints:
        where = where.rsplit(".", 1)[0] if where.endswith(f".{name}") else where
        raise GankitError(f"{where}: {unknown_name_message('option', str(name)[:60], list(hints))}")
    value = coerce(hints[name], value, where)
    low, high = section.__dataclass_fields__[name].metadata.get("bounds", (None, None))
    if low is not None and value < low:
        raise GankitError(f"{where} must be at least {low}, got {value} - fix the value")
    if high is not None and value > high:
        raise GankitError(f"{where} must be at most {high}, got {value} - fix the value")
    setattr(section, name, value)
