"""Per-channel normalisation: the measured statistics, the pixel scale both ways, a
channel-normalised run's images turned back into pixels, and the options' checks."""

import pytest
import torch

from gankit import training
from gankit.checkpoint import load_generator
from gankit.config import DataConfig
from gankit.data import ImageData, load_dataset, resolve_normalization
from gankit.data.imagedata import channel_statistics
from gankit.errors import GankitError
from gankit.images import MINMAX, PixelScale, pixel_scale, to_float, to_uint8
from gankit.run import open_run
from gankit.sampling import generate, noise
from tests.support import tiny_config

SCALE = PixelScale((0.25, 0.5, 0.75), (0.1, 0.2, 0.3))


def test_statistics_are_each_channels_mean_and_std_in_unit_range():
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_statistics(images)
    x = images.double() / 255
    expected_mean = x.mean((0, 2, 3))
    expected_std = x.std((0, 2, 3), correction=0)
    assert mean == pytest.approx(expected_mean.tolist(), abs=1e-6)
    assert std == pytest.approx(expected_std.tolist(), abs=1e-6)


def test_the_scale_maps_pixels_and_back_exactly():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).repeat(2, 3, 1, 1)
    f = to_float(x, scale=SCALE)
    torch.testing.assert_close(f[0, 1, 0, 0], torch.tensor(-0.5 / 0.2))  # (0 - 0.5) / 0.2
    torch.testing.assert_close(f[0, 2, 15, 15], torch.tensor(0.25 / 0.3))  # (1 - 0.75) / 0.3
    assert torch.equal(to_uint8(f, SCALE), x)
    # Outside what pixels can be, the inverse clamps instead of wrapping around.
    wild = torch.full((1, 3, 2, 2), 50.0)
    assert torch.equal(to_uint8(wild, SCALE), torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))


def test_minmax_keeps_its_exact_arithmetic():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert pixel_scale(DataConfig()) == MINMAX
    assert torch.equal(to_float(x, scale=MINMAX), x.float().mul_(1 / 127.5).sub_(1.0))
    cfg = DataConfig(normalize="channel", normalize_mean=[0.5], normalize_std=[0.25])
    assert pixel_scale(cfg) == PixelScale((0.5,), (0.25,))


def test_resolve_measures_the_statistics_once_and_keeps_given_ones():
    data = load_dataset(DataConfig(dataset="shapes", img_size=16, shapes_count=40))
    cfg = DataConfig(dataset="shapes", normalize="channel")
    resolved = resolve_normalization(cfg, data)
    assert (resolved.normalize_mean, resolved.normalize_std) == channel_statistics(data.images)
    again = resolve_normalization(resolved, ImageData(data.images * 0, None, [], "x", "x"))
    assert again == resolved  # a resumed run keeps its figures
    assert resolve_normalization(DataConfig(), data) == DataConfig()


def test_a_channel_normalised_run_turns_its_samples_back_into_pixels(tmp_path):
    cfg = tiny_config(data={"normalize": "channel"}, train={"steps": 2})
    cfg.log.checkpoint_every = 2
    training.train(cfg, tmp_path / "run", progress=False)
    run = open_run(tmp_path / "run")
    saved = run.config().data
    data = load_dataset(DataConfig(dataset="shapes", img_size=32, shapes_count=96))
    assert (saved.normalize_mean, saved.normalize_std) == channel_statistics(data.images)

    G, _, _ = load_generator(run)
    scale = PixelScale(tuple(saved.normalize_mean), tuple(saved.normalize_std))
    assert G.pixel_scale == scale
    z, y = noise(range(4), G.z_dim), torch.arange(4) % 3
    with torch.no_grad():
        raw = G(z, y).double()
    mean = torch.tensor(scale.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(scale.std, dtype=torch.float64).view(1, 3, 1, 1)
    expected = ((raw * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)
    got = generate(G, z, y)
    assert (got.int() - expected.int()).abs().max() <= 1  # float32 vs float64 rounding
    assert not torch.equal(got, to_uint8(G(z, y)))  # not the [-1, 1] mapping


def test_the_training_samplers_carry_the_scale(tmp_path):
    from gankit.training.setup import prepare
    from gankit.training.state import build_state

    cfg, data = prepare(tiny_config(data={"normalize": "channel"}))
    state = build_state(cfg, data, torch.device("cpu"))
    assert state.sampler is state.ema.model and state.sampler.pixel_scale == pixel_scale(cfg.data)
    assert state.sampler.pixel_scale != MINMAX


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rotate_degrees": 190.0}, "rotate_degrees must be in [0, 180], got 190"),
        ({"rotate_degrees": -5.0}, "rotate_degrees must be in [0, 180]"),
        ({"crop_padding": -1}, "crop_padding must be 0 or more"),
        ({"crop_padding": 16}, "crop_padding 16 is not smaller than the 16 px images"),
        ({"normalize": "chanel"}, "unknown normalize 'chanel' - did you mean 'channel'?"),
        (
            {"normalize": "channel", "normalize_mean": [0.5] * 3, "normalize_std": [0.2, 0, 0.2]},
            "normalize_std must be positive",
        ),
        ({"normalize_mean": [0.5], "normalize_std": [0.5]}, "but normalize is minmax"),
        ({"normalize": "channel", "normalize_mean": [0.5] * 3}, "give both normalize_mean"),
    ],
)
def test_bad_options_are_one_line(options, message):
    cfg = DataConfig(dataset="shapes", img_size=16, shapes_count=20, **options)
    with pytest.raises(GankitError) as e:
        load_dataset(cfg)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_statistics_that_do_not_fit_the_images_are_refused():
    data = load_dataset(DataConfig(dataset="shapes", img_size=16, shapes_count=20))
    two = DataConfig(normalize="channel", normalize_mean=[0.5, 0.5], normalize_std=[0.2, 0.2])
    with pytest.raises(GankitError, match="2 / 2 values for 3-channel images"):
        resolve_normalization(two, data)
    flat = ImageData(torch.full((4, 3, 8, 8), 7, dtype=torch.uint8), None, [], "flat", "x")
    with pytest.raises(GankitError, match="a channel never changes - use --normalize minmax"):
        resolve_normalization(DataConfig(dataset="flat", normalize="channel"), flat)
