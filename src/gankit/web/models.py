"""Images for the web app: a small cache of generators and a bounded pool that runs them.

Owns: loading each (run, checkpoint) generator once into a small LRU cache;
the real images the human test shows (the run's test split at the run's
size, loaded once per run); and running every generation in a thread pool off
the event loop with a fixed number of slots (workers + a short queue). When
every slot is taken a request is refused at once with ``Busy`` (503) rather
than queued without bound. The maths lives in ``sampling``; this module only
decides which seeds and labels to ask for and encodes PNGs.
"""

from __future__ import annotations

import asyncio
import io
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from gankit.checkpoint import load_generator
from gankit.config import Config
from gankit.data import ImageData, load_dataset
from gankit.errors import GankitError
from gankit.images import make_grid, to_pil, upscale
from gankit.sampling import generate, interpolation_inputs, noise
from gankit.web.catalog import ServedRun
from gankit.web.errors import Busy

T = TypeVar("T")


@dataclass(frozen=True)
class Loaded:
    G: torch.nn.Module
    cfg: Config
    step: int


class Engine:
    """Generators and real data loaded on demand, and the bounded pool that uses them.

    Args:
        device: where generators run ("cpu" by default: the app must not need a GPU).
        workers: generations running at once.
        queue: generations allowed to wait for a worker; more than workers + queue -> 503.
        cache_size: generators kept loaded (least recently used dropped first).
    """

    def __init__(self, *, device="cpu", workers: int = 2, queue: int = 8, cache_size: int = 4):
        self.device = torch.device(device)
        self.capacity = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gankit-web")
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._cache_size = cache_size
        self._models: OrderedDict[tuple[str, int], Loaded] = OrderedDict()
        self._data: OrderedDict[str, ImageData] = OrderedDict()
        # Separate locks: loading a dataset (seconds) must not hold up cached generators.
        self._model_lock, self._data_lock = threading.Lock(), threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn(*args)`` in the pool, or raises ``Busy`` when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"the server is busy ({self.capacity} generations under way) - try again")
        try:
            future = self._pool.submit(fn, *args)
        except RuntimeError:  # the pool is shutting down
            self._slots.release()
            raise Busy("the server is shutting down") from None
        # The slot is freed when the work ends, not when the client stops waiting for it.
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- loading, cached ---

    def generator(self, served: ServedRun, step: int) -> Loaded:
        key = (served.id, step)
        with self._model_lock:  # one load at a time: two requests never load the same model twice
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            G, cfg, _ = load_generator(served.run, step, self.device)
            self._models[key] = Loaded(G, cfg, step)
            while len(self._models) > self._cache_size:
                self._models.popitem(last=False)
            return self._models[key]

    def real_data(self, served: ServedRun) -> ImageData:
        """The run's held-out real images (its test split; the train split where none exists)."""
        with self._data_lock:
            if served.id in self._data:
                self._data.move_to_end(served.id)
                return self._data[served.id]
            try:
                data = load_dataset(served.config.data, split="test")
            except GankitError:  # e.g. an image folder: it has only a train split
                data = load_dataset(served.config.data, split="train")
            self._data[served.id] = data
            while len(self._data) > 2:  # a dataset can be large; the quiz uses one or two
                self._data.popitem(last=False)
            return data

    # --- work done in the pool ---

    def images(self, served: ServedRun, step: int, count: int, seed: int, label: int | None):
        """``count`` images, image i from seed ``seed + i``; conditional runs without a label
        get balanced labels (i mod classes), as ``gankit generate`` does."""
        loaded = self.generator(served, step)
        z = noise(range(seed, seed + count), loaded.cfg.model.z_dim)
        return generate(loaded.G, z, self._labels(served, count, label, balanced=True))

    def interpolation(
        self, served: ServedRun, step: int, seeds: tuple[int, int], frames: int, label: int | None
    ) -> torch.Tensor:
        """``frames`` images on the great circle between two seeds' noise, one label throughout."""
        loaded = self.generator(served, step)
        z = interpolation_inputs(seeds[0], seeds[1], frames, loaded.cfg.model.z_dim)
        return generate(loaded.G, z, self._labels(served, frames, label, balanced=False))

    def quiz_images(
        self, served: ServedRun, step: int, real: int, generated: int, rng: random.Random
    ) -> tuple[list[torch.Tensor], list[str]]:
        """``real`` held-out real images, then ``generated`` generated ones, and their sources.

        The generated images take the labels of further random real images, so both
        groups follow the data's class mix.
        """
        loaded, data = self.generator(served, step), self.real_data(served)
        n = len(data.images)
        real_idx = rng.sample(range(n), real)
        seeds = [rng.randrange(2**31) for _ in range(generated)]
        labels = None
        if served.conditional and data.labels is not None:
            labels = data.labels[[rng.randrange(n) for _ in range(generated)]]
        fake = generate(loaded.G, noise(seeds, loaded.cfg.model.z_dim), labels)
        reals = data.images[real_idx]
        if reals.shape[1:] != fake.shape[1:]:
            raise GankitError(
                f"run {served.id}: its data now loads as {tuple(reals.shape[1:])} but the model "
                f"makes {tuple(fake.shape[1:])} - the dataset changed since training"
            )
        names = [f"real test[{i}]" for i in real_idx]
        names += [f"generated seed {s}" + _label_note(labels, j) for j, s in enumerate(seeds)]
        return [*reals, *fake], names

    def _labels(self, served: ServedRun, count: int, label: int | None, *, balanced: bool):
        if not served.conditional:
            return None
        if label is None and balanced:
            return torch.arange(count) % len(served.class_names)
        return torch.full((count,), label or 0)


def _label_note(labels: torch.Tensor | None, j: int) -> str:
    return "" if labels is None else f" label {int(labels[j])}"


def png_bytes(image: torch.Tensor, scale: int = 1) -> bytes:
    """A uint8 [C, H, W] image as PNG bytes, upscaled ``scale`` times without smoothing."""
    buffer = io.BytesIO()
    to_pil(upscale(image, scale)).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def grid_png(images: torch.Tensor, scale: int = 1, nrow: int = 8) -> bytes:
    return png_bytes(make_grid(images, nrow=min(nrow, len(images))), scale)
