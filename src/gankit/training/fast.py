"""The fast path: memory layout, compilation and optimiser kernels, chosen per device.

Each choice is one a measurement backs (``bench/kernels.py`` for the kernels on
their own, ``bench/train_speed.py`` for whole training steps), and none changes
results beyond numerical noise (``tests/training/test_fast.py``):

- fused Adam (one kernel over all parameters) on CPU and CUDA; RMSprop has no
  fused kernel, so it uses the multi-tensor ``foreach`` one;
- channels-last (NHWC) for convolutional nets, on by default (``auto``): tensor
  cores want NHWC, and so do oneDNN's CPU kernels - on the 2-core AVX2 build machine
  the 64 px DCGAN's layers run 1.2x faster (``bench/kernels.py``) and whole training
  steps 1.1-1.6x (``bench/train_speed.py --set channels_last=off`` to compare);
- ``torch.compile`` of G and D: ``auto`` turns it on for CUDA only. On this 2-core
  CPU compiling costs ~30 s per network and gains a few per cent, so it pays only on
  runs of hours. A critic whose loss back-propagates through its own gradient
  (WGAN-GP's and DRAGAN's penalties) stays eager: AOTAutograd has no double backward.
  When compilation fails (no C++ compiler, an unsupported op), torch falls back to
  eager for that graph with a warning instead of stopping the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit.config import TrainConfig

# Objectives whose critic loss needs the gradient of a gradient (create_graph=True).
DOUBLE_BACKWARD = {"wgan-gp", "dragan"}


@dataclass(frozen=True)
class FastPath:
    channels_last: bool  # conv weights and real batches in NHWC
    compile_g: bool
    compile_d: bool
    fused_optim: bool  # fused Adam kernels
    notes: tuple[str, ...] = ()  # why something asked for is off


def choose(
    t: TrainConfig, loss: str, device: torch.device, D: nn.Module, *, r1: bool = False
) -> FastPath:
    """What the fast path does for this config on ``device``."""
    notes = []
    is_conv = any(p.dim() == 4 for p in D.parameters())
    cuda = device.type == "cuda"
    channels_last = is_conv and t.channels_last in ("on", "auto")
    want_compile = t.compile == "on" or (t.compile == "auto" and cuda)
    compile_d = want_compile and loss not in DOUBLE_BACKWARD and not r1
    if want_compile and not compile_d and t.compile == "on":
        penalty = "R1" if r1 else loss
        notes.append(
            f"D stays eager: {penalty}'s penalty needs a double backward, which compiled D lacks"
        )
    return FastPath(
        channels_last=channels_last,
        compile_g=want_compile,
        compile_d=compile_d,
        fused_optim=t.optimizer == "adam" and device.type in ("cpu", "cuda"),
        notes=tuple(notes),
    )


def to_layout(x: torch.Tensor, fast: FastPath) -> torch.Tensor:
    """An image batch in the layout the networks' weights use."""
    return x.contiguous(memory_format=torch.channels_last) if fast.channels_last else x


def layout_module(module: nn.Module, fast: FastPath) -> nn.Module:
    """Moves 4-d weights to NHWC when channels-last is on (a no-op for MLPs)."""
    return module.to(memory_format=torch.channels_last) if fast.channels_last else module


def compiled(module: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(module)`` with eager fallback on compiler errors, or ``module`` itself."""
    if not enabled:
        return module
    import torch._dynamo

    # A graph that fails to compile runs eagerly (with torch's warning) instead of
    # ending the run: compilation is an optimisation, never a requirement.
    torch._dynamo.config.suppress_errors = True
    return torch.compile(module)
