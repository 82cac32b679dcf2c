"""A trained generator, loaded from a run folder and ready to sample by label and seed.

Owns what "images from a run" means for every caller - the Python API
(``gankit.load``), ``gankit generate`` and anything else that samples by hand:
which checkpoint, which labels (a name, an index, one per image, or balanced),
which seeds (image i uses seed ``seed + i``), one row per label, and latent walks.
Images come back as uint8 [N, C, H, W] on the CPU, the form every writer and
metric takes; ``to_pil`` turns them into Pillow images for notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from gankit.checkpoint import load_generator
from gankit.config import Config
from gankit.data import label_index
from gankit.errors import GankitError
from gankit.run import Run, open_run
from gankit.sampling import generate, interpolation_inputs, label_grid_inputs, noise

MAX_IMAGES = 65_536  # per call: beyond this, stream with gankit.sampling.sample_batches

Label = int | str


class TrainedGenerator:
    """G of one checkpoint of a run, in eval mode.

    Attributes:
        run: the run it came from.
        config: the run's complete configuration.
        step: the generator updates behind this checkpoint.
        class_names: the labels it was trained with ([] when unconditional).
    """

    def __init__(self, G: torch.nn.Module, config: Config, step: int, run: Run):
        self.G, self.config, self.step, self.run = G, config, step, run
        self.class_names: list[str] = list(config.data.class_names)

    @classmethod
    def open(
        cls, run: str | Path | Run, checkpoint: str | int = "latest", device: str = "cpu"
    ) -> TrainedGenerator:
        """Loads ``checkpoint`` ('latest', 'best' or a step) of ``run`` onto ``device``."""
        run = run if isinstance(run, Run) else open_run(run)
        G, cfg, state = load_generator(run, checkpoint, torch.device(device))
        return cls(G, cfg, int(state["step"]), run)

    @property
    def conditional(self) -> bool:
        return self.config.model.conditioning != "none"

    def label(self, label: Label) -> int:
        """A class name or index -> the index (one line naming the valid ones otherwise)."""
        if not self.conditional:
            raise GankitError(
                f"{self.run.path} is unconditional (trained without labels) - sample it without a label"
            )
        return label_index(self.class_names, label)

    def generate(
        self, n: int = 1, *, labels: Label | Sequence[Label] | None = None, seed: int = 0
    ) -> torch.Tensor:
        """``n`` images, image i from seed ``seed + i`` -> uint8 [n, C, H, W] on the CPU.

        Args:
            labels: one label for all images, one per image, or None: a conditional
                generator then cycles through its labels (image i gets i mod classes).
        """
        _check_count(n)
        if seed < 0:
            raise GankitError(f"seed must be 0 or more, got {seed}")
        return generate(self.G, noise(range(seed, seed + n), self.G.z_dim), self._labels(n, labels))

    def per_label(self, per_label: int, *, seed: int = 0) -> torch.Tensor:
        """One row per label, column j from seed ``seed + j`` -> [classes * per_label, ...]."""
        if not self.conditional:
            return self.generate(per_label, seed=seed)
        _check_count(per_label * len(self.class_names))
        z, y = label_grid_inputs(len(self.class_names), per_label, self.G.z_dim, first_seed=seed)
        return generate(self.G, z, y)

    def interpolate(
        self, steps: int, *, seed: int = 0, to_seed: int | None = None, label: Label | None = None
    ) -> torch.Tensor:
        """A walk of ``steps`` images on the great circle from ``seed``'s noise to ``to_seed``'s."""
        _check_count(steps)
        end = seed + 1 if to_seed is None else to_seed
        z = interpolation_inputs(seed, end, steps, self.G.z_dim)
        y = None
        if self.conditional:
            y = torch.full((steps,), self.label(label) if label is not None else 0)
        elif label is not None:
            self.label(label)  # the one-line refusal
        return generate(self.G, z, y)

    def _labels(self, n: int, labels) -> torch.Tensor | None:
        if labels is None:
            return torch.arange(n) % len(self.class_names) if self.conditional else None
        if isinstance(labels, (int, str)):
            return torch.full((n,), self.label(labels))
        labels = [self.label(label) for label in labels]
        if len(labels) != n:
            raise GankitError(f"{len(labels)} labels given for {n} images - give one per image")
        return torch.tensor(labels)


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """uint8 [N, C, H, W] -> Pillow images (grey 'L' or 'RGB')."""
    arrays = images.permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arrays]


def _check_count(n: int) -> None:
    if not 1 <= n <= MAX_IMAGES:
        raise GankitError(f"ask for 1 to {MAX_IMAGES:,} images at once, not {n}")
