"""Data-parallel training on PyTorch's own engine (torchrun + DistributedDataParallel).

``torchrun --nproc_per_node N -m gankit train ...`` starts N processes; each
draws its shard of every global batch from the shared seeded order (and its
slice of every global random draw), DDP averages the gradients, and only rank 0
writes samples, logs and checkpoints. The ranks agree on when to stop (signal,
time budget, non-finite loss) through one small all-reduce per log interval,
and a collective that waits longer than ``$GANKIT_DIST_TIMEOUT_S`` (default
600) fails instead of hanging when another rank has died.
"""

from __future__ import annotations

import datetime
import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from gankit.errors import GankitError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def shard(self) -> tuple[int, int]:
        return (self.rank, self.world)


SINGLE = Dist()


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or (
        "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ
    )


def init(device_name: str) -> Dist:
    """Joins the process group when started by torchrun; a no-op otherwise."""
    if not launched_by_torchrun():
        return SINGLE
    if dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ["LOCAL_RANK"]))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    local_rank = int(os.environ["LOCAL_RANK"])
    if use_cuda:
        torch.cuda.set_device(local_rank)
    timeout = datetime.timedelta(seconds=float(os.environ.get("GANKIT_DIST_TIMEOUT_S", "600")))
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank)


def device_for(d: Dist, device: torch.device) -> torch.device:
    """Each rank's own GPU under torchrun."""
    if d.enabled and device.type == "cuda":
        return torch.device("cuda", d.local_rank)
    return device


def wrap(module: nn.Module, d: Dist, device: torch.device) -> nn.Module:
    """The module the loop calls: DDP around ``module`` when distributed, else itself."""
    if not d.enabled:
        return module
    if device.type == "cuda":
        # Batch statistics over the global batch, as one process would compute them.
        # (SyncBatchNorm has no CPU kernel: on CPU each rank normalises its own shard.)
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    # A small head's gradient may come out in another memory layout than DDP's bucket:
    # harmless (DDP copies it), so its per-step warning is silenced.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    with warnings.catch_warnings():
        # Ranks start from the same seed, so buffers need no syncing; newer torch renames
        # the option (and warns), older torch (e.g. the GPU machine's) knows only this name.
        warnings.simplefilter("ignore", FutureWarning)
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)


def any_rank(d: Dist, flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank (one small all-reduce)."""
    if not d.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean(d: Dist, x: torch.Tensor) -> torch.Tensor:
    """The average of ``x`` over all ranks (a copy; ``x`` is left alone)."""
    x = x.clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x / d.world


def broadcast(d: Dist, value):
    """Rank 0's ``value`` on every rank (e.g. the run folder's name)."""
    if not d.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def shutdown(d: Dist) -> None:
    """Leaves the process group together: a rank that tore its group down while a peer
    still had work in flight could leave that peer waiting forever (seen with gloo)."""
    if not d.enabled:
        return
    try:
        dist.barrier()
    except RuntimeError:  # a peer is already gone (it failed): nothing to wait for
        pass
    dist.destroy_process_group()


def lost_contact(d: Dist, error: Exception) -> GankitError:
    e = GankitError(
        f"rank {d.rank} lost contact with the other processes ({_gist(error)})"
        " - another rank failed or was killed (see its output); resume with the same command "
        "and --resume RUN"
    )
    e.every_rank = True
    return e


def _gist(error: Exception) -> str:
    """The telling part of a backend error: its first line, without the source location."""
    line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if "] " in line:  # gloo prefixes "[/path/to/pair.cc:553] "
        line = line.split("] ", 1)[1]
    return line[:100].rsplit(". ", 1)[0]
