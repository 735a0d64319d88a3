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
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from databright.compute.pool import WorkerHandle
from databright.compute.spec import Tolerance
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
