"""The kernels behind the fast path's per-device choices, measured on their own.

Prints, on the current device:
- matmul throughput at the MLP GAN's shapes (batch 64) in float32 and under
  bf16 autocast: bf16 pays only where the hardware has bf16 units;
- forward + backward time of the 64 px DCGAN's layers (pytorch/examples'
  widths, batch 64) in NCHW and channels-last (NHWC) layouts;
- one Adam step over 2 M parameters with the for-loop, foreach and fused kernels.

    python bench/kernels.py [--device cuda] [--repeat 5]

The training-loop figures these choices feed are in ``train_speed.py``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn


def _time(fn, device, repeat: int) -> float:
    """Best wall time of ``fn()`` over ``repeat`` runs, after two warm-up runs."""
    for _ in range(2):
        fn()
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def matmuls(device, repeat: int) -> None:
    shapes = [(64, 1024, 784), (64, 512, 1024), (64, 784, 512)]  # (batch, in, out)
    for bf16 in (False, True):
        flops, seconds = 0.0, 0.0
        for b, k, n in shapes:
            x, w = torch.randn(b, k, device=device), torch.randn(n, k, device=device)

            def mm(x=x, w=w, bf16=bf16):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    for _ in range(20):
                        torch.nn.functional.linear(x, w)

            seconds += _time(mm, device, repeat)
            flops += 20 * 2 * b * k * n
        name = "bf16 autocast" if bf16 else "float32"
        print(f"  matmul, MLP GAN shapes, {name:<13} {flops / seconds / 1e9:7.1f} GFLOP/s")


def _dcgan_layers():
    yield nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False), (64, 100, 1, 1)
    for c_in, size in ((512, 4), (256, 8), (128, 16)):
        yield nn.ConvTranspose2d(c_in, c_in // 2, 4, 2, 1, bias=False), (64, c_in, size, size)
    yield nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), (64, 64, 32, 32)
    yield nn.Conv2d(1, 64, 4, 2, 1, bias=False), (64, 1, 64, 64)
    for c_in, size in ((64, 32), (128, 16), (256, 8)):
        yield nn.Conv2d(c_in, c_in * 2, 4, 2, 1, bias=False), (64, c_in, size, size)
    yield nn.Conv2d(512, 1, 4, 1, 0, bias=False), (64, 512, 4, 4)


def convolutions(device, repeat: int) -> None:
    for layout in (torch.contiguous_format, torch.channels_last):
        total = 0.0
        for layer, shape in _dcgan_layers():
            layer = layer.to(device, memory_format=layout)
            x = torch.randn(shape, device=device).contiguous(memory_format=layout)
            x.requires_grad_(True)

            def fwd_bwd(layer=layer, x=x):
                layer(x).sum().backward()

            total += _time(fwd_bwd, device, repeat)
        name = "NHWC" if layout == torch.channels_last else "NCHW"
        print(f"  DCGAN-64 layers fwd+bwd, batch 64, {name}: {total * 1000:8.1f} ms")


def adam(device, repeat: int) -> None:
    sizes = [(1024, 784), (1024,), (512, 1024), (512,), (784, 512), (256, 512), (256,)]
    for kernel in ("for-loop", "foreach", "fused"):
        params = [torch.zeros(s, device=device, requires_grad=True) for s in sizes * 2]
        for p in params:
            p.grad = torch.randn_like(p)
        options = {"foreach": kernel == "foreach", "fused": kernel == "fused" or None}
        opt = torch.optim.Adam(params, lr=1e-4, **options)
        ms = _time(opt.step, device, repeat) * 1000
        print(
            f"  Adam step, {sum(p.numel() for p in params) / 1e6:.1f} M params, {kernel:<8} {ms:6.2f} ms"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    device = torch.device(args.device)
    cpu = torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else ""
    print(f"device {device} {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    matmuls(device, args.repeat)
    convolutions(device, args.repeat)
    adam(device, args.repeat)


if __name__ == "__main__":
    main()
