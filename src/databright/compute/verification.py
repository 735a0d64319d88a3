"""Checking untrusted work: triple modular redundancy (the paper's TMR).

Three disjoint groups of the same shape (a lone worker, data-parallel workers or the stages of a split
model; see `groups`) do the same unit from the same agreed state on the same samples, side by side;
their results are compared (bitwise by the hash of every tensor, or within a stated tolerance). All
three agree: the result is released and all are credited. Two agree: the third group deviated, and the
first position of its trace that differs from the majority's names the worker that deviated; it is
slashed with evidence (the hash of the unit's input — the agreed state and the sample indices —, the
position, what each group had there, and the workers' own signed results or, for split stages and
data-parallel members, their signed transcripts of the unit: `evidence`), replaced by a fresh worker
that is given the agreed state, and the unit is done again, so a result is still released only when all
three agree. No two agree: nobody can be blamed, all are replaced and the unit is redone. Deviating
work is never credited, so never paid.

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
import hmac
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from databright.compute.checkpoint import Progress
from databright.compute.evidence import FORMAT, input_hash, signed_result
from databright.compute.evidence_groups import group_evidence
from databright.compute.executor import Context, Credit, Faulty, GroupExecutor, GroupResult, Outcome, Position, digest
from databright.compute.handle import Receipt, WorkerHandle
from databright.compute.schedule import Unit
from databright.training.replica import Array, Replica, packed_state_hash
from databright.training.spec import JobSpec, Tolerance

__all__ = ["Faulty", "Tmr", "agreement", "detection_probability", "input_hash", "spot_check", "spot_checked"]


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


def first_divergence(deviating: GroupResult, majority: GroupResult) -> Position:
    """The earliest position where the deviating group's trace differs from the majority's."""
    theirs = {p.key: p.value for p in majority.trace}
    for position in deviating.trace:
        if position.key in theirs and digest(position.value) != digest(theirs[position.key]):
            return position
    return deviating.trace[-1]


class Tmr:
    """The TMR executor over groups of any shape (`group`)."""

    def __init__(self, group: GroupExecutor) -> None:
        self.group = group

    def execute(self, ctx: Context, unit: Unit, progress: Progress, state: bytes) -> Outcome:
        return Outcome(*execute_tmr(ctx, self.group, unit, progress, state))


def execute_tmr(runner: Context, run_group: GroupExecutor, unit: Unit, progress: Progress, state: bytes) -> tuple[
        bytes, str, Credit, list[float]]:
    """Runs `unit` on the three groups at once and releases its result only if all three agree."""
    groups = [runner.members(g, unit) for g in range(3)]
    with ThreadPoolExecutor(3, thread_name_prefix="tmr") as pool:
        futures = [pool.submit(run_group, runner, members, unit, progress, state, True) for members in groups]
        results: list[GroupResult] = []
        faulty: list[WorkerHandle] = []
        reasons: list[str] = []
        for future in futures:
            try:
                results.append(future.result())
            except Faulty as fault:
                faulty += fault.workers
                reasons.append(fault.reason)
    if faulty:
        raise Faulty(faulty, "; ".join(reasons))
    signatures = ["/".join(r.signature) for r in results]
    lone = all(len(g) == 1 for g in groups)
    tolerance = runner.spec.protections.tolerance if lone else None
    agreed = agreement(signatures, [r.state for r in results], tolerance, runner.scratch)
    if len(agreed) < 2:
        raise Faulty([h for g in groups for h in g], "no two groups agree")
    if len(agreed) < 3:
        (odd,) = [i for i in range(3) if i not in agreed]
        position = first_divergence(results[odd], results[agreed[0]])
        values = {}
        for r in results:
            at = next((p for p in r.trace if p.key == position.key), None)
            if at is not None:
                values[at.worker.address] = digest(at.value)
        evidence = {"job": runner.job, "step": unit.start, "input_hash": input_hash(progress.state_hash, unit),
                    "position": position.key, "results": values,
                    "majority": digest(next(p.value for p in results[agreed[0]].trace if p.key == position.key)),
                    "groups": [[h.address for h in g] for g in groups]}
        receipts = {a: rc for r in results for a, rc in r.receipts.items()}
        common = {"format": FORMAT, "worker": position.worker.address, "input_state": state,
                  "agreed_final": results[agreed[0]].hash}
        if lone and len(receipts) == 3:  # every lone worker's own signed result: checkable by a third party
            evidence.update(common, every=runner.spec.protections.compare_every,
                            signed=[signed_result(a, rc) for a, rc in receipts.items()])
        elif not lone:  # a stage's or member's signed transcript of the unit, beside its peers' in the other groups
            evidence.update(common, transcripts=group_evidence(runner.job, groups, [r.transcripts for r in results],
                                                               odd, agreed, position.worker.address, unit))
        raise Faulty([position.worker], f"deviates from the 2-of-3 majority at {position.key}", evidence)
    progress.agreements += 1
    credit: Credit = {}
    for r in results:
        credit.update(r.credit)
    first = results[agreed[0]]
    return first.state, first.hash, credit, first.losses


def spot_checked(spec: JobSpec, job: str, unit: Unit, secret: bytes) -> bool:
    """Whether this unit is recomputed: a draw keyed by the coordinator's secret (`CheckpointStore.secret`),
    the job and the unit — reproducible after a restart, unpredictable to a worker."""
    rate = spec.protections.spot_check_rate
    digest = hmac.new(secret, f"{job}:{unit.start}:{spec.training.seed}".encode(), hashlib.sha256).digest()
    return rate > 0 and int.from_bytes(digest[:8], "big") / 2**64 < rate


def detection_probability(rate: float, fraction: float, units: int) -> float:
    """1 - (1 - p)^(f·n): the chance that at least one of a worker's deviating units is checked."""
    return float(1.0 - (1.0 - rate) ** (fraction * units))


def spot_check(runner: Context, unit: Unit, progress: Progress, start: bytes, worker: WorkerHandle,
               result: str, receipt: Receipt | None = None) -> Credit:
    """Recomputes `unit` from `start` on another worker (under a data cap, the checker of the unit's
    shard); returns the checker's credit when they agree."""
    checker = runner.checker(unit)
    runner.load([checker], start, progress.state_hash)
    (reply,) = runner.gather([(checker, runner.send_unit(checker, unit))])
    checker_receipt = checker.receipts[-1] if checker.receipts else None
    checked = packed_state_hash(reply["state"])  # what it returned, not what it says it returned
    runner.holds[checker.address] = checked
    if checked == result:
        progress.checks += 1
        return {checker.address: (sum(len(b) for b in unit.batches), len(unit.batches), float(reply["seconds"]))}
    referee = runner.scratch
    referee.load(start)
    x, y = runner.data.x_train, runner.data.y_train
    referee.train_steps([x[b] for b in unit.batches], [y[b] for b in unit.batches])
    truth = referee.state_hash()
    deviating = [h for h, digest_ in ((worker, result), (checker, checked)) if digest_ != truth]
    evidence = {"job": runner.job, "step": unit.start, "input_hash": input_hash(progress.state_hash, unit),
                "results": {worker.address: result, checker.address: checked}, "majority": truth,
                "referee": "coordinator"}
    if receipt is not None and checker_receipt is not None and len(deviating) == 1:
        evidence.update({"format": FORMAT, "worker": deviating[0].address, "input_state": start, "every": 0,
                         "agreed_final": truth,
                         "signed": [signed_result(worker.address, receipt),
                                    signed_result(checker.address, checker_receipt)]})
    raise Faulty(deviating, "result differs from the coordinator's recomputation (spot check)", evidence)
