"""Checking untrusted work: triple modular redundancy (the paper's TMR).

Three disjoint groups do the same unit from the same agreed state on the same samples; their
results are compared (bitwise by the hash of every tensor, or within a stated tolerance). All three
agree: the result is released and all are credited. Two agree: the third deviated; it is slashed with
evidence (the hash of the unit's input — the agreed state and the sample indices — and the three result
hashes), replaced by a fresh worker that is given the agreed state, and the unit is done again, so a
result is still released only when all three agree. No two agree: nobody can be blamed, all three are
replaced and the unit is redone. Deviating work is never credited, so never paid.

The tolerance mode (`protections.tolerance`) is for groups on different hardware, whose floating point
may differ in the last bits: it accepts results within `abs_diff + rel_diff * |x|` elementwise. It also
lets a deviation that small through, which is why it is off by default.

Spot checks (beyond the paper) spend far less: each unit of a lone worker is, with probability p drawn
by the coordinator (the worker cannot know), recomputed by a different worker from the same state. A
mismatch is settled by the coordinator recomputing the unit itself (it is trusted); whoever differs from
it is slashed and replaced and the unit redone. A worker deviating on a fraction f of its n units escapes
with probability (1 - p)^(f·n).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from databright.compute.pool import WorkerHandle
from databright.compute.spec import JobSpec, Tolerance
from databright.compute.training import Array, Replica

if TYPE_CHECKING:
    from databright.compute.checkpoint import Progress
    from databright.compute.runner import JobRunner, Unit

Credit = dict[str, tuple[int, int, float, Array]]


class Faulty(Exception):
    """Workers to replace; with `evidence`, they deviated from a majority and are slashed as well."""

    def __init__(self, workers: Sequence[WorkerHandle], reason: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.workers = list(workers)
        self.reason = reason
        self.evidence = evidence


def input_hash(state_hash: str, unit: Unit) -> str:
    """What every group was given: the agreed state and the unit's sample indices, in order."""
    h = hashlib.sha256(state_hash.encode())
    for batch in unit.batches:
        h.update(np.asarray(batch, dtype="<i8").tobytes())
    return h.hexdigest()


def _parameters(replica: Replica, state: bytes) -> list[Array]:
    replica.load(state)
    return [t.detach().numpy().copy() for t in replica.model.state_dict().values()]


def _close(a: list[Array], b: list[Array], tol: Tolerance) -> bool:
    return all(np.allclose(x, y, rtol=tol.rel_diff, atol=tol.abs_diff) for x, y in zip(a, b, strict=True))


def agreement(hashes: list[str], states: list[bytes], tolerance: Tolerance | None, scratch: Replica) -> list[int]:
    """The indices of the largest set of results that agree with each other (by hash, or within tolerance)."""
    if tolerance is None:
        best = max(set(hashes), key=hashes.count)
        return [i for i, h in enumerate(hashes) if h == best]
    params = [_parameters(scratch, s) for s in states]
    n = len(params)
    agree = [[i == j or _close(params[i], params[j], tolerance) for j in range(n)] for i in range(n)]
    for size in range(n, 1, -1):
        for i in range(n):
            members = [j for j in range(n) if agree[i][j]]
            if len(members) >= size and all(agree[a][b] for a in members for b in members):
                return members
    return [0]


def execute_tmr(runner: JobRunner, unit: Unit, progress: Progress) -> tuple[bytes, str, Credit, list[float]]:
    """Runs `unit` on the three one-worker groups (already holding the agreed state) and compares."""
    group = list(runner.group)
    replies = runner.gather([(h, runner.send_unit(h, unit)) for h in group])
    hashes = [r["hash"] for r in replies]
    for h, digest in zip(group, hashes, strict=True):
        runner.holds[h.address] = digest
    agreed = agreement(hashes, [r["state"] for r in replies], runner.spec.protections.tolerance, runner.scratch)
    if len(agreed) < 2:
        raise Faulty(group, "no two groups agree")
    if len(agreed) < len(group):
        evidence = {"job": runner.job, "step": unit.start, "input_hash": input_hash(progress.state_hash, unit),
                    "results": {h.address: d for h, d in zip(group, hashes, strict=True)},
                    "majority": hashes[agreed[0]]}
        deviating = [h for i, h in enumerate(group) if i not in agreed]
        raise Faulty(deviating, "result deviates from the 2-of-3 majority", evidence)
    progress.agreements += 1
    indices = np.unique(np.concatenate(unit.batches))
    samples = sum(len(b) for b in unit.batches)
    credit = {h.address: (samples, len(unit.batches), r["seconds"], indices) for h, r in zip(group, replies,
                                                                                              strict=True)}
    first = replies[agreed[0]]
    return first["state"], first["hash"], credit, list(first["losses"])


def spot_checked(spec: JobSpec, job: str, unit: Unit) -> bool:
    """Whether this unit is recomputed: a draw seeded by the job and the unit, made on the coordinator."""
    rate = spec.protections.spot_check_rate
    return rate > 0 and random.Random(f"{job}:{unit.start}:{spec.training.seed}").random() < rate


def detection_probability(rate: float, fraction: float, units: int) -> float:
    """1 - (1 - p)^(f·n): the chance that at least one of a worker's deviating units is checked."""
    return float(1.0 - (1.0 - rate) ** (fraction * units))


def spot_check(runner: JobRunner, unit: Unit, progress: Progress, start: bytes, worker: WorkerHandle,
               result: str) -> Credit:
    """Recomputes `unit` from `start` on another worker; returns the checker's credit when they agree."""
    if runner.checker is None:
        found = runner.supply.acquire(1, exclude={h.address for h in runner.group})
        if not found:
            raise Faulty([], "no second worker is available for a spot check")
        runner.checker = found[0]
    checker = runner.checker
    runner.gather([(checker, checker.actor.setup.remote(runner.job, runner.spec_json,
                                                        list(runner.data.feature_shape), runner.data.n_classes,
                                                        start))])
    runner.holds[checker.address] = progress.state_hash
    (reply,) = runner.gather([(checker, runner.send_unit(checker, unit))])
    runner.holds[checker.address] = reply["hash"]
    if reply["hash"] == result:
        progress.checks += 1
        indices = np.unique(np.concatenate(unit.batches))
        return {checker.address: (sum(len(b) for b in unit.batches), len(unit.batches), reply["seconds"], indices)}
    referee = runner.scratch
    referee.load(start)
    x, y = runner.data.x_train, runner.data.y_train
    referee.train_steps([x[b] for b in unit.batches], [y[b] for b in unit.batches])
    truth = referee.state_hash()
    deviating = [h for h, digest in ((worker, result), (checker, reply["hash"])) if digest != truth]
    evidence = {"job": runner.job, "step": unit.start, "input_hash": input_hash(progress.state_hash, unit),
                "results": {worker.address: result, checker.address: reply["hash"]}, "majority": truth,
                "referee": "coordinator"}
    raise Faulty(deviating, "result differs from the coordinator's recomputation (spot check)", evidence)
