"""The order of a job's work: which samples each step trains on, cut into units, and — under a data
cap — which shard of the training set each unit belongs to.

Without a cap, every epoch is one permutation of the whole training set (`batch_order`) and units of
`unit_steps` steps may span epochs but never an evaluation point.

With a cap `c` (the paper's 5 %) no worker may ever receive more than `quota = floor(c·N)` distinct
samples. The training set is cut once per job into `S = ceil(N / quota)` shards of at most `quota`
samples, and each shard gets its own worker (its *owner*) for the whole job: an owner sees only its
shard, epoch after epoch, so its exposure never grows past the quota. A group of `W` data-parallel
workers trains `W` shards at a time: an epoch is a shuffled sequence of *periods* of `W` shards, each
period's batches are drawn from those shards only, and each batch is split among the shards' owners.
When the period ends its owners are retired until their shards come round again and the next period's
owners continue from the agreed state — the paper's periodic reallocation. With `W ≥ S` there is one
period per epoch and this is ordinary sharded data parallelism. Units never cross a period (the
workers change there), so the unit is still the grain of checking, checkpoints and payment.

The cost of the cap is that a batch mixes only the samples of the period's shards (with `W = 1`, of
one shard): it is still SGD over every sample every epoch, in a more local order. Everyone who
reproduces the job (the workers, a referee, the tests' plain loop) uses exactly this schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from databright.compute.errors import JobSpecError
from databright.training.replica import Array, batch_order
from databright.training.spec import JobSpec


@dataclass(frozen=True)
class ShardPlan:
    """The training set cut into shards of at most `quota` samples, drawn once per job."""

    n: int
    quota: int
    shards: tuple[Array, ...]
    owner: Array  # owner[i] = the shard holding training sample i

    @classmethod
    def build(cls, n: int, cap: float, seed: int) -> ShardPlan:
        quota = int(np.floor(cap * n + 1e-9))
        if quota < 1:
            raise JobSpecError(f"a data cap of {cap:g} of {n} samples is less than one sample per worker")
        count = -(-n // quota)
        perm = np.random.default_rng([seed, 0x5A4D]).permutation(n)
        shards = tuple(np.sort(part) for part in np.array_split(perm, count))
        owner = np.empty(n, dtype=np.int64)
        for s, part in enumerate(shards):
            owner[part] = s
        return cls(n, quota, shards, owner)

    @property
    def count(self) -> int:
        return len(self.shards)

    def periods(self, epoch: int, width: int, seed: int) -> list[tuple[int, ...]]:
        """This epoch's periods: the shards in a seeded order, `width` at a time."""
        order = np.random.default_rng([seed, epoch, 0x9E7]).permutation(self.count)
        return [tuple(int(s) for s in order[i : i + width]) for i in range(0, self.count, width)]

    def split(self, batch: Array, shards: tuple[int, ...]) -> list[Array]:
        """A batch's samples by owner, in the period's shard order (each keeps the batch's order)."""
        owners = self.owner[batch]
        return [batch[owners == s] for s in shards]


def workers_needed(spec: JobSpec, n_train: int) -> int:
    """Distinct workers the job needs over its whole run, before replacing any that fail: per group,
    one per data-parallel slot (under a cap, one per shard) and one per later stage of a split model;
    times the redundancy; plus the spot checkers (one, or under a cap one per shard)."""
    p = spec.protections
    slots = spec.workers if p.data_cap is None else ShardPlan.build(n_train, p.data_cap, spec.training.seed).count
    checkers = slots if p.spot_check_rate > 0 else 0
    return (slots + p.split_stages - 1) * p.redundancy + checkers


def group_roles(spec: JobSpec, g: int, unit: Unit) -> list[str]:
    """Group g's roles for `unit`, in execution order: its data-parallel slots (under a cap, the owners of
    the period's shards), then a split model's later stages. Workers sign their results under these names."""
    first = [f"g{g}.shard{s}" for s in unit.shards] if unit.shards else [f"g{g}.w{i}" for i in range(spec.workers)]
    return first + [f"g{g}.stage{k}" for k in range(1, spec.protections.split_stages)]


@dataclass(frozen=True)
class Unit:
    start: int            # global step index of the unit's first step
    batches: tuple[Array, ...]
    evaluate_after: int | None  # the epoch (1-based) whose end this unit reaches, when one is evaluated there
    shards: tuple[int, ...] = ()  # under a data cap: the period's shards, one per data-parallel slot

    @property
    def end(self) -> int:
        return self.start + len(self.batches)


def _segments(spec: JobSpec, plan: ShardPlan | None, n_train: int, epoch: int) -> list[tuple[tuple[int, ...],
                                                                                           list[Array]]]:
    seed, size = spec.training.seed, spec.training.batch_size
    if plan is None:
        return [((), batch_order(n_train, size, epoch, seed))]
    segments = []
    for p, shards in enumerate(plan.periods(epoch, spec.workers, seed)):
        pool = np.concatenate([plan.shards[s] for s in shards])
        perm = np.random.default_rng([seed, epoch, p, 0xBA7]).permutation(pool)
        segments.append((shards, [perm[i : i + size] for i in range(0, len(perm), size)]))
    return segments


def schedule(spec: JobSpec, n_train: int) -> list[Unit]:
    """Units of `unit_steps` steps over the whole run. They may span epochs (short epochs would
    otherwise make tiny units, and each unit costs a round trip and a checkpoint), but never an
    evaluation point — the end of every `ceil(epochs / eval_points)`-th epoch and of the last one —
    nor, under a data cap, a change of period."""
    cap = spec.protections.data_cap
    plan = ShardPlan.build(n_train, cap, spec.training.seed) if cap is not None else None
    epochs = spec.training.epochs
    every = -(-epochs // spec.eval_points)
    units: list[Unit] = []
    position = 0
    pending: list[Array] = []
    current: tuple[int, ...] = ()

    def flush(evaluate: int | None) -> None:
        nonlocal position, pending
        units.append(Unit(position, tuple(pending), evaluate, current))
        position, pending = position + len(pending), []

    for epoch in range(epochs):
        for shards, batches in _segments(spec, plan, n_train, epoch):
            if pending and shards != current:
                flush(None)
            current = shards
            for batch in batches:
                pending.append(batch)
                if len(pending) == spec.unit_steps:
                    flush(None)
        if (epoch + 1) % every == 0 or epoch + 1 == epochs:
            if pending:
                flush(epoch + 1)
            else:  # the last unit ended exactly on this epoch's end
                last = units[-1]
                units[-1] = Unit(last.start, last.batches, epoch + 1, last.shards)
    return units


def training_batches(spec: JobSpec, n_train: int) -> list[Array]:
    """Every step's samples in order: what a plain loop must train on to reproduce the job."""
    return [batch for unit in schedule(spec, n_train) for batch in unit.batches]
