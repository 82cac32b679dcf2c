"""The seeded order in which training visits the data, resumable exactly.

Epoch ``e`` visits the indices in ``torch.randperm(n)`` drawn from a generator
seeded by a fixed mix of (seed, e) - no Python ``hash``, so the order is the
same in every process and after a restart. Batches are always full: one that
crosses the end of an epoch continues with the next epoch's permutation. The
state is two integers, so resuming from ``state_dict()`` continues the
uninterrupted order exactly.

For data parallelism every rank computes the same global batch and keeps its
contiguous slice, so the global order does not depend on the number of ranks.
"""

from __future__ import annotations

import torch

from gankit.errors import GankitError

_MASK64 = (1 << 64) - 1


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for epoch ``epoch`` (SplitMix64 finaliser over seed and epoch)."""
    x = (seed * 0x9E3779B97F4A7C15 + (epoch + 1) * 0xD1B54A32D192ED03) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1  # fits torch's manual_seed range on every platform


class BatchOrder:
    """Draws batches of dataset indices from seeded per-epoch permutations.

    Args:
        n: dataset size.
        batch_size: global batch size (all ranks together).
        seed: the order's seed.
        rank: this process's rank; ``next()`` returns its contiguous shard.
        world_size: number of ranks; must divide ``batch_size``.
    """

    def __init__(self, n: int, batch_size: int, seed: int, *, rank: int = 0, world_size: int = 1):
        if n < 1:
            raise GankitError("the dataset is empty - check the data options")
        if batch_size < 1:
            raise GankitError(f"batch size must be at least 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise GankitError(f"rank {rank} is outside 0..{world_size - 1}")
        if batch_size % world_size:
            raise GankitError(
                f"batch size {batch_size} does not divide among {world_size} processes - "
                f"use a multiple of {world_size}"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.position = 0, 0  # next index to use: permutation(epoch)[position]
        self._perm_epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def _permutation(self, epoch: int) -> torch.Tensor:
        # Cached: a batch needs at most the current and the next epoch's permutation.
        if epoch != self._perm_epoch:
            generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
            self._perm = torch.randperm(self.n, generator=generator)
            self._perm_epoch = epoch
        return self._perm

    def next(self) -> torch.Tensor:
        """The next batch: int64 [batch_size // world_size] indices, on the CPU."""
        parts, need = [], self.batch_size
        while need:
            take = min(need, self.n - self.position)
            parts.append(self._permutation(self.epoch)[self.position : self.position + take])
            need -= take
            self.position += take
            if self.position == self.n:
                self.epoch, self.position = self.epoch + 1, 0
        batch = torch.cat(parts) if len(parts) > 1 else parts[0].clone()
        shard = self.batch_size // self.world_size
        return batch[self.rank * shard : (self.rank + 1) * shard]

    __next__ = next

    def __iter__(self) -> BatchOrder:
        return self

    @property
    def epoch_float(self) -> float:
        """Epochs consumed so far, e.g. 2.5 halfway through the third epoch."""
        return self.epoch + self.position / self.n

    def state_dict(self) -> dict[str, int]:
        """JSON-able state; ``load_state_dict`` of it continues the same order."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        epoch, position = state.get("epoch"), state.get("position")
        if not all(isinstance(v, int) and v >= 0 for v in (epoch, position)) or position >= self.n:
            raise GankitError(
                f"data order state {state!r} does not fit a dataset of {self.n} images - "
                "resume with the same data options the run was started with"
            )
        self.epoch, self.position = epoch, position
