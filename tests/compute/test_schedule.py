"""The schedule under a data cap: shards within the quota, every sample once per epoch, units inside
a period, batches split by owner, and how many workers a job needs."""

from __future__ import annotations

import numpy as np
import pytest

from databright.compute.errors import JobSpecError
from databright.compute.schedule import ShardPlan, schedule, training_batches, workers_needed
from databright.training.replica import batch_order

from .conftest import job_spec


@pytest.mark.parametrize(("n", "cap"), [(480, 0.05), (480, 0.25), (1000, 0.05), (97, 0.1), (10, 1.0)])
def test_shards_cover_the_set_once_and_none_exceeds_the_quota(n: int, cap: float) -> None:
    plan = ShardPlan.build(n, cap, seed=3)
    assert plan.quota == int(cap * n + 1e-9)
    assert all(len(s) <= plan.quota for s in plan.shards)
    assert plan.count == -(-n // plan.quota)
    assert np.array_equal(np.sort(np.concatenate(plan.shards)), np.arange(n))
    for s, shard in enumerate(plan.shards):
        assert (plan.owner[shard] == s).all()


def test_a_cap_below_one_sample_per_worker_is_refused() -> None:
    with pytest.raises(JobSpecError, match="less than one sample"):
        ShardPlan.build(10, 0.05, seed=0)


def _capped(workers: int = 1, cap: float = 0.25, **training: object) -> object:
    return job_spec(workers=workers, unit_steps=3, eval_points=2,
                    training={"epochs": 3, "batch_size": 32, "seed": 5, **training},
                    protections={"data_cap": cap})


@pytest.mark.parametrize("workers", [1, 2, 4, 5])
def test_capped_epochs_train_every_sample_once_and_units_stay_in_their_period(workers: int) -> None:
    spec = _capped(workers)
    n = 480
    plan = ShardPlan.build(n, 0.25, spec.training.seed)  # type: ignore[attr-defined]
    units = schedule(spec, n)  # type: ignore[arg-type]
    steps = [len(b) for u in units for b in u.batches]
    assert sum(steps) == 3 * n and max(steps) <= 32
    assert [u.start for u in units] == [0, *np.cumsum([len(u.batches) for u in units])[:-1]]
    for unit in units:
        assert 1 <= len(unit.shards) <= min(workers, plan.count) and len(unit.batches) <= 3
        allowed = np.concatenate([plan.shards[s] for s in unit.shards])
        assert np.isin(np.concatenate(unit.batches), allowed).all()
    per_epoch = np.concatenate([b for u in units for b in u.batches]).reshape(3, n)
    for epoch in per_epoch:
        assert np.array_equal(np.sort(epoch), np.arange(n))
    assert [u.evaluate_after for u in units if u.evaluate_after] == [2, 3]


def test_a_batch_is_split_by_owner_in_the_periods_order() -> None:
    plan = ShardPlan.build(100, 0.25, seed=1)
    shards = (2, 0)
    batch = np.concatenate([plan.shards[2][:3], plan.shards[0][:4]])[[0, 4, 1, 5, 2, 6, 3]]
    parts = plan.split(batch, shards)
    assert [len(p) for p in parts] == [3, 4]
    assert set(parts[0]) <= set(plan.shards[2]) and set(parts[1]) <= set(plan.shards[0])
    assert list(parts[1]) == [i for i in batch if plan.owner[i] == 0]  # each part keeps the batch's order


def test_without_a_cap_the_plain_order_is_unchanged() -> None:
    spec = job_spec(training={"epochs": 2, "batch_size": 50, "seed": 9}, unit_steps=7)
    expected = [b for e in range(2) for b in batch_order(480, 50, e, 9)]
    got = training_batches(spec, 480)
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_workers_needed_counts_shard_owners_stages_redundancy_and_checkers() -> None:
    base = {"training": {"seed": 0}}
    assert workers_needed(job_spec(**base), 480) == 1
    assert workers_needed(job_spec(workers=3, **base), 480) == 3
    assert workers_needed(job_spec(protections={"redundancy": 3}, workers=2, **base), 480) == 6
    assert workers_needed(job_spec(protections={"data_cap": 0.05}, **base), 480) == 20  # quota 24 -> 20 shards
    assert workers_needed(job_spec(protections={"data_cap": 0.05, "redundancy": 3, "split_stages": 2}, **base),
                          480) == 63
    assert workers_needed(job_spec(protections={"data_cap": 0.25, "spot_check_rate": 0.1}, **base), 480) == 8
