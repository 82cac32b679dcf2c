"""BatchOrder: seeded per-epoch permutations, full batches, exact resume, sharding."""

import json

import pytest
import torch

from gankit.data import BatchOrder
from gankit.data import order as order_module
from gankit.errors import GankitError


def take(order: BatchOrder, batches: int) -> torch.Tensor:
    return torch.cat([order.next() for _ in range(batches)])


def test_every_index_once_per_epoch_and_batches_full():
    order = BatchOrder(10, 3, seed=1)
    batches = [order.next() for _ in range(10)]  # 30 indices = exactly 3 epochs
    assert all(b.shape == (3,) and b.dtype == torch.int64 for b in batches)
    stream = torch.cat(batches)
    for epoch in range(3):
        assert sorted(stream[epoch * 10 : (epoch + 1) * 10].tolist()) == list(range(10))
    assert order.epoch == 3 and order.position == 0 and order.epoch_float == 3.0


def test_batch_crossing_an_epoch_continues_into_the_next_permutation():
    order = BatchOrder(10, 4, seed=0)
    take(order, 2)
    third = order.next()  # the last 2 of epoch 0 then the first 2 of epoch 1
    assert order.epoch == 1 and order.position == 2
    assert order.epoch_float == pytest.approx(1.2)
    perm0 = torch.randperm(
        10, generator=torch.Generator().manual_seed(order_module.epoch_seed(0, 0))
    )
    perm1 = torch.randperm(
        10, generator=torch.Generator().manual_seed(order_module.epoch_seed(0, 1))
    )
    assert third.tolist() == perm0[8:].tolist() + perm1[:2].tolist()


def test_batch_larger_than_dataset():
    order = BatchOrder(3, 7, seed=0)
    stream = take(order, 3)  # 21 indices = 7 epochs
    assert all(sorted(stream[i : i + 3].tolist()) == [0, 1, 2] for i in range(0, 21, 3))


def test_seeded_and_epochs_differ():
    assert torch.equal(take(BatchOrder(50, 10, 3), 5), take(BatchOrder(50, 10, 3), 5))
    assert not torch.equal(take(BatchOrder(50, 10, 3), 5), take(BatchOrder(50, 10, 4), 5))
    stream = take(BatchOrder(50, 10, 3), 10)
    assert not torch.equal(stream[:50], stream[50:])


def test_resume_gives_the_uninterrupted_order():
    full = BatchOrder(23, 5, seed=7)
    expected = take(full, 20)
    first = BatchOrder(23, 5, seed=7)
    head = take(first, 9)
    state = json.loads(json.dumps(first.state_dict()))
    assert set(state) == {"epoch", "position"}
    resumed = BatchOrder(23, 5, seed=7)
    resumed.load_state_dict(state)
    assert resumed.epoch_float == first.epoch_float
    assert torch.equal(torch.cat([head, take(resumed, 11)]), expected)


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_take_contiguous_shards_of_the_global_batch(world_size):
    single = BatchOrder(30, 8, seed=5)
    ranks = [BatchOrder(30, 8, seed=5, rank=r, world_size=world_size) for r in range(world_size)]
    for _ in range(6):
        shards = [order.next() for order in ranks]
        assert all(s.shape == (8 // world_size,) for s in shards)
        assert torch.equal(torch.cat(shards), single.next())


def test_permutation_is_cached(monkeypatch):
    calls = []
    real = torch.randperm
    monkeypatch.setattr(
        order_module.torch, "randperm", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    order = BatchOrder(100, 10, seed=0)
    take(order, 10)
    assert len(calls) == 1
    order.next()
    assert len(calls) == 2


def test_iterator_protocol():
    order = BatchOrder(5, 2, seed=0)
    assert next(iter(order)).shape == (2,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0, "batch_size": 4, "seed": 0},
        {"n": 10, "batch_size": 0, "seed": 0},
        {"n": 10, "batch_size": 5, "seed": 0, "world_size": 2},
        {"n": 10, "batch_size": 4, "seed": 0, "rank": 2, "world_size": 2},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(GankitError):
        BatchOrder(**kwargs)


@pytest.mark.parametrize("state", [{"epoch": 0, "position": 10}, {"epoch": -1, "position": 0}, {}])
def test_bad_state(state):
    with pytest.raises(GankitError) as info:
        BatchOrder(10, 2, seed=0).load_state_dict(state)
    assert "\n" not in str(info.value)
