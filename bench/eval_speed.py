"""FID feature speed: the optimised network against the loaded one, and the pipeline.

First, on one fixed batch of real-size images, the network as loaded from its
file (``load_network(optimise=False)``, the path before the CPU optimisation)
against the network ``inception_features`` uses (``load_network()``), timed
alternately ``--repeats`` times: best-of images/s of each, their ratio (target
on a CPU: at least 2), and the largest feature difference relative to the
largest feature (bound: 1e-4). The machine load is printed beside them, since
other processes on the cores skew every figure.

Then two measurements on the current device at the same batch size and image count:

- pipeline: ``inception_features`` over a generator source — generation from a
  run's checkpoint (or an untrained conditional DCGAN at 28x28 grey, like the
  Fashion-MNIST presets), quantisation to uint8, transfer, the 299x299 bilinear
  resize, the network, and copying the features out;
- bare: the TorchScript forward alone on pre-made 299x299 float tensors already
  on the device.

Prints images/s for both, their ratio (target: the pipeline within 10% of the
bare forward), what generation and preprocessing alone cost, and peak memory.
On a CPU the network does a few images per second, so N defaults to 64 there
(2048 on a GPU).

    python bench/eval_speed.py                       # untrained stand-in G
    python bench/eval_speed.py --run runs/fashion --n 4096 --batch-size 128
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def compare_networks(device: torch.device, bs: int, repeats: int, seed: int) -> None:
    """Prints loaded vs optimised network speed and feature difference on one batch."""
    from gankit.metrics.inception import load_network, preprocess

    old, new = load_network(device, optimise=False), load_network(device)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (bs, 3, 299, 299), dtype=torch.uint8, generator=gen)
    x_old = preprocess(images.to(device))
    x_new = x_old.contiguous(memory_format=new.input_format)
    with torch.no_grad():
        # Warm-up: TorchScript profiles its first two calls before optimising the graph.
        for net, x in ((old, x_old), (new, x_new)):
            for _ in range(2):
                net.module(x[:2])
        f_old, f_new = old.module(x_old).double(), new.module(x_new).double()
        best = {"old": (float("inf"),) * 2, "new": (float("inf"),) * 2}
        # Alternated, so a burst of load from elsewhere hits both about equally.
        for _ in range(repeats):
            print(f"  ... {_load()}", flush=True)
            for name, net, x in (("old", old, x_old), ("new", new, x_new)):
                best[name] = min(best[name], _wall_and_cpu(net.module, x, device))
    rel = ((f_new - f_old).abs().max() / f_old.abs().max()).item()
    for label, name in (("network as loaded ", "old"), ("optimised network ", "new")):
        wall, cpu = best[name]
        print(f"{label} {bs / wall:9.2f} img/s  (best of {repeats}: {wall:.2f} s, CPU {cpu:.2f} s)")
    ratio, cpu_ratio = best["old"][0] / best["new"][0], best["old"][1] / best["new"][1]
    print(f"optimised / loaded {ratio:9.2f}x  (CPU time {cpu_ratio:.2f}x)  ", end="")
    print(f"max relative feature difference {rel:.2e}")
    print(f"  {_load()}, {torch.get_num_threads()} threads, batch {bs}")


def _wall_and_cpu(module, x: torch.Tensor, device: torch.device) -> tuple[float, float]:
    """(wall, process CPU) seconds of one forward; CPU time is less swayed by other load."""
    cpu = time.process_time()
    wall = _timed(lambda: module(x).cpu(), device)
    return wall, time.process_time() - cpu


def _source(run: str | None, device: torch.device, seed: int):
    from gankit.config import ModelConfig
    from gankit.metrics.sources import GeneratorSource, open_source
    from gankit.models import build_models

    if run:
        return open_source(run, seed=seed, device=device)
    cfg = ModelConfig(conditioning="concat")
    G, _ = build_models(cfg, img_size=28, channels=1, num_classes=10)
    return GeneratorSource(G.to(device).eval(), "untrained conditional DCGAN 28x28 grey", seed)


def main() -> None:
    from gankit.metrics.inception import inception_features, load_network, preprocess
    from gankit.training import pick_device

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="RUN or RUN@STEP to generate from (default: untrained G)")
    p.add_argument("--n", type=int, help="images per measurement (default: 64 CPU, 2048 GPU)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's, all cores)")
    p.add_argument("--repeats", type=int, default=3, help="alternated timings of each network")
    p.add_argument("--compare-only", action="store_true", help="skip the pipeline measurements")
    args = p.parse_args()

    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.n or (2048 if device.type == "cuda" else 64)
    bs = args.batch_size
    compare_networks(device, min(bs, n), args.repeats, args.seed)
    if args.compare_only:
        return
    net = load_network(device)
    source = _source(args.run, device, args.seed)
    sizes = [min(bs, n - i) for i in range(0, n, bs)]
    x = (torch.rand(bs, 3, 299, 299, device=device) * 2 - 1).contiguous(
        memory_format=net.input_format
    )

    # Warm-up (TorchScript profiling, cuDNN algorithm choice): a full batch on a GPU, a
    # small one on a CPU, where a full batch costs many seconds.
    with torch.no_grad():
        net.module(x[: bs if device.type == "cuda" else 2])

    def bare() -> None:
        with torch.no_grad():
            for size in sizes:
                net.module(x[:size]).cpu()

    def pipeline() -> None:
        inception_features(source.batches(n, bs), device, bs, n=n, net=net)

    def generation_and_preprocessing() -> None:
        for images in source.batches(n, bs):
            preprocess(images.to(device))

    t_bare = _timed(bare, device)
    t_pipe = _timed(pipeline, device)
    t_gen = _timed(generation_and_preprocessing, device)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = (
        f", GPU peak {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MB"
        if device.type == "cuda"
        else ""
    )
    print(f"device {device}, {n} images, batch {bs}, {torch.get_num_threads()} CPU threads")
    print(f"source: {source.describe(n)}")
    print(f"bare forward      {n / t_bare:9.1f} img/s  ({t_bare:.1f} s)")
    print(f"pipeline          {n / t_pipe:9.1f} img/s  ({t_pipe:.1f} s)")
    print(f"  of which generation + preprocessing alone: {n / t_gen:.1f} img/s ({t_gen:.2f} s)")
    ratio = t_bare / t_pipe
    verdict = "within" if ratio >= 0.9 else "NOT within"
    print(f"pipeline / bare   {ratio:9.3f}  ({verdict} 10% of the bare forward)")
    print(f"peak RSS {peak_mb:.0f} MB{gpu}; {_load()}")


if __name__ == "__main__":
    main()
