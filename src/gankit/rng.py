"""Random draws that do not depend on how a batch is split across processes.

In data-parallel training every rank holds a shard of the global batch. To
make N ranks x batch B draw exactly what 1 rank x batch N*B draws, each rank
draws the values for the whole global batch from the same seeded generator
and keeps its own contiguous slice (as ``data.order`` does for indices).
"""

from __future__ import annotations

import torch

Shard = tuple[int, int]  # (rank, world_size)


def rand_shard(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | str,
    shard: Shard = (0, 1),
    *,
    dtype: torch.dtype = torch.float32,
    normal: bool = False,
) -> torch.Tensor:
    """This rank's slice of a U[0, 1) (or, with ``normal``, N(0, 1)) draw for the global batch.

    ``shape`` is the local shape; its first axis is the local batch size.
    """
    rank, world = shard
    n = shape[0]
    draw = torch.randn if normal else torch.rand
    full = draw((n * world, *shape[1:]), generator=generator, device=device, dtype=dtype)
    return full[rank * n : (rank + 1) * n]
