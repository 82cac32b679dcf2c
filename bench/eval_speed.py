"""FID feature speed: gankit's whole pipeline against the bare network forward.

Two measurements on the current device at the same batch size and image count:

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
    args = p.parse_args()

    device = pick_device(args.device)
    n = args.n or (2048 if device.type == "cuda" else 64)
    bs = args.batch_size
    net = load_network(device)
    source = _source(args.run, device, args.seed)
    sizes = [min(bs, n - i) for i in range(0, n, bs)]
    x = torch.rand(bs, 3, 299, 299, device=device) * 2 - 1

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
    print(f"peak RSS {peak_mb:.0f} MB{gpu}")


if __name__ == "__main__":
    main()
