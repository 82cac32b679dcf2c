"""The fast path (fused Adam, channels-last, torch.compile) trains like a plain eager loop."""

import json

import pytest
import torch

from gankit import training
from gankit.run import create_run
from gankit.training.fast import choose
from gankit.training.loop import train_loop
from gankit.training.setup import prepare
from gankit.training.state import build_state
from tests.support import tiny_config


def _losses_and_weights(cfg, tmp_path, plain: bool = False):
    """Trains ``cfg``; ``plain`` swaps the optimisers for torch's default for-loop Adam."""
    cfg, data = prepare(cfg)
    s = build_state(cfg, data, torch.device("cpu"))
    if plain:
        t = cfg.train
        s.opt_g = torch.optim.Adam(
            s.G.parameters(), lr=t.lr_g, betas=(t.beta1_g, t.beta2_g), foreach=False
        )
        s.opt_d = torch.optim.Adam(
            s.D.parameters(), lr=t.lr_d, betas=(t.beta1_d, t.beta2_d), foreach=False
        )
    run = create_run(tmp_path, cfg)
    train_loop(s, run, progress=False)
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    losses = torch.tensor([[r["d_loss"], r["g_loss"]] for r in rows])
    return losses, torch.cat([p.detach().flatten() for p in s.G.parameters()]), s


def _cfg(**train):
    return tiny_config(
        train={"steps": 4, "ema_halflife_images": 0, **train},
        log={"log_every": 1, "sample_every": 0, "checkpoint_every": 0},
    )


def test_the_default_path_uses_fused_adam_and_matches_a_plain_eager_loop(tmp_path):
    fast_losses, fast_w, s = _losses_and_weights(_cfg(), tmp_path / "fast")
    assert s.opt_g.defaults["fused"] and s.opt_d.defaults["fused"]
    plain_losses, plain_w, _ = _losses_and_weights(_cfg(), tmp_path / "plain", plain=True)
    torch.testing.assert_close(fast_losses, plain_losses, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast_w, plain_w, rtol=1e-4, atol=1e-5)


def test_channels_last_matches_the_plain_layout(tmp_path):
    nhwc_losses, nhwc_w, s = _losses_and_weights(_cfg(channels_last="on"), tmp_path / "nhwc")
    conv = next(p for p in s.D.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    nchw_losses, nchw_w, _ = _losses_and_weights(_cfg(channels_last="off"), tmp_path / "nchw")
    torch.testing.assert_close(nhwc_losses, nchw_losses, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(nhwc_w, nchw_w, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # trains two or three runs and compares them
def test_channels_last_runs_resume_bit_for_bit(tmp_path):
    cfg = _cfg(channels_last="on")
    cfg.log.checkpoint_every = 2
    whole = training.train(cfg, tmp_path / "whole", progress=False)
    cfg.train.steps = 2
    half = training.train(cfg, tmp_path / "half", progress=False)
    cfg.train.steps = 4
    resumed = training.resume(half.run, cfg, progress=False)
    a = json.loads(whole.run.metrics_path.read_text().splitlines()[-1])
    b = json.loads(resumed.run.metrics_path.read_text().splitlines()[-1])
    assert (a["d_loss"], a["g_loss"]) == (b["d_loss"], b["g_loss"])


@pytest.mark.slow
def test_compiled_networks_train_like_eager_ones(tmp_path):
    torch._dynamo.reset()

    def cfg(compile):  # a small MLP: inductor compiles each graph's C++ on this CPU
        c = _cfg(compile=compile, steps=3)
        c.model.arch, c.model.conditioning = "mlp", "none"
        c.model.g_hidden, c.model.d_hidden, c.model.d_norm = [32], [32], "none"
        return c

    on_losses, on_w, s = _losses_and_weights(cfg("on"), tmp_path / "on")
    assert hasattr(s.G_train, "_orig_mod") and hasattr(s.D_train, "_orig_mod")
    off_losses, off_w, s = _losses_and_weights(cfg("off"), tmp_path / "off")
    assert not hasattr(s.G_train, "_orig_mod")
    torch.testing.assert_close(on_losses, off_losses, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(on_w, off_w, rtol=1e-3, atol=1e-4)


def test_a_double_backward_critic_stays_eager_and_says_why():
    t = _cfg(compile="on").train
    D = torch.nn.Conv2d(1, 1, 3)
    fast = choose(t, "wgan-gp", torch.device("cpu"), D)
    assert fast.compile_g and not fast.compile_d
    assert "double backward" in fast.notes[0]
    auto = choose(_cfg().train, "hinge", torch.device("cpu"), D)
    assert auto.channels_last and not auto.compile_g  # measured on the CPU: NHWC pays, compile not
    assert choose(_cfg().train, "hinge", torch.device("cuda"), D).compile_g
    mlp_d = torch.nn.Linear(4, 1)
    assert not choose(_cfg().train, "hinge", torch.device("cpu"), mlp_d).channels_last


def test_bad_fast_path_values_are_one_line(tmp_path):
    from gankit.errors import GankitError

    with pytest.raises(GankitError, match="--compile must be auto, on or off"):
        training.train(_cfg(compile="yes please"), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
