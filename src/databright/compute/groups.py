"""One group's execution of a unit: a lone worker, data-parallel workers, or (in `split_exec`) the
stage workers of a split model.

A group is one replica of the computation. Unprotected, the runner uses one group; under TMR three
disjoint groups of the same shape do the same unit, and `verification` compares them. For that each
execution leaves a *trace*: what each member produced, in causal order (a lone worker's state every
`compare_every` steps; each data-parallel worker's gradient share at every step; each stage's
activations and gradients at every micro-batch and its state after every step), ending with every
member's final state. Groups agree when their members' final states are equal; when one group
deviates, the first position of its trace that differs from the majority names the worker that
deviated first — everything after it may be an honest worker's faithful use of a bad input.

Values in a trace are digests, or futures of the messages themselves (activations and their
gradients, which passed through the coordinator), hashed only when it has to find a culprit. The final
states are hashed by the coordinator from the bytes it received, never taken from a worker's word.
"""

from __future__ import annotations

from typing import Any

from databright.compute.checkpoint import Progress
from databright.compute.executor import Context, Faulty, GroupResult, Position, recorded
from databright.compute.handle import WorkerHandle
from databright.compute.schedule import Unit
from databright.training.replica import Array, arrays_hash, packed_state_hash, sum_gradients


def execute_lone(runner: Context, h: WorkerHandle, unit: Unit, progress: Progress, state: bytes,
                 compare: bool, sent: Any = None) -> GroupResult:
    """One worker does the whole unit in one call (`sent`: the call, if it was made ahead of time)."""
    every = runner.spec.protections.compare_every if compare else 0
    if sent is None:
        runner.load([h], state, progress.state_hash)
        sent = runner.send_unit(h, unit, every)
    (reply,) = runner.gather([(h, sent)])
    # protected jobs never take a worker's word for what it returned
    final = packed_state_hash(reply["state"]) if runner.spec.protections.any else reply["hash"]
    runner.holds[h.address] = final
    trace = [Position(f"step {unit.start + (i + 1) * every}", h, d) for i, d in enumerate(reply["trace"])]
    trace.append(Position("final 0", h, final))
    credit = {h.address: (sum(len(b) for b in unit.batches), len(unit.batches), float(reply["seconds"]))}
    last = h.receipts[-1] if h.receipts else None
    ours = last is not None and (last.statement.kind, last.statement.unit, last.statement.job) == (
        "run_unit", unit.start, runner.job)
    receipts = {h.address: last} if last is not None and ours else {}
    return GroupResult(reply["state"], final, credit, list(reply["losses"]), trace, (final,), receipts)


def lone_group(runner: Context, group: list[WorkerHandle], unit: Unit, progress: Progress, state: bytes,
               compare: bool) -> GroupResult:
    """`execute_lone` as a group executor (a group of one)."""
    (h,) = group
    return execute_lone(runner, h, unit, progress, state, compare)


def execute_parallel(runner: Context, group: list[WorkerHandle], unit: Unit, progress: Progress,
                     state: bytes, compare: bool) -> GroupResult:
    """Data parallel: each batch is split among the members (under a data cap, by shard owner); each
    returns its share of the gradient, the coordinator adds them in a fixed order and sends the sum
    back with the next step's work, so one round trip per step. Compared, every member's signed
    replies are kept (`GroupResult.transcripts`) for slash evidence."""
    with recorded(group, compare) as transcripts:
        result = _run_parallel(runner, group, unit, progress, state, compare)
    result.transcripts = transcripts
    return result


def _run_parallel(runner: Context, group: list[WorkerHandle], unit: Unit, progress: Progress,
                  state: bytes, compare: bool) -> GroupResult:
    runner.load(group, state, progress.state_hash)
    x, y = runner.data.x_train, runner.data.y_train
    seconds = dict.fromkeys((h.address for h in group), 0.0)
    samples = dict.fromkeys((h.address for h in group), 0)
    grads: list[Array] | None = None
    losses, trace = [], []
    for step, batch in enumerate(unit.batches, start=unit.start):
        parts = runner.parts(batch, unit, len(group))
        for h, p in zip(group, parts, strict=True):
            runner.expose(h, p)
        replies = runner.gather([(h, h.grad_step(grads, x[p], y[p], len(batch)))
                                 for h, p in zip(group, parts, strict=True)])
        grads = sum_gradients([r["grads"] for r in replies])
        losses.append(sum(r["loss_sum"] for r in replies) / len(batch))
        for i, (h, p, r) in enumerate(zip(group, parts, replies, strict=True)):
            seconds[h.address] += r["seconds"]
            samples[h.address] += len(p)
            if compare:
                trace.append(Position(f"step {step} share {i}", h, arrays_hash(r["grads"])))
    if grads is None:
        raise Faulty([], f"unit at step {unit.start} has no batches")
    finals = runner.gather([(h, h.finish(grads, compare or i == 0)) for i, h in enumerate(group)])
    hashes = [packed_state_hash(f["state"]) if compare else f["hash"] for f in finals]
    if not compare:  # alone, the group is checked against itself: its replicas must all be equal
        majority = max(set(hashes), key=hashes.count)
        deviating = [h for h, v in zip(group, hashes, strict=True) if v != majority]
        if deviating:
            raise Faulty(deviating if hashes.count(majority) * 2 > len(hashes) else group,
                         "replicas disagree after the unit")
    for i, (h, digest_) in enumerate(zip(group, hashes, strict=True)):
        runner.holds[h.address] = digest_
        trace.append(Position(f"final {i}", h, digest_))
    credit = {h.address: (samples[h.address], len(unit.batches), seconds[h.address]) for h in group}
    return GroupResult(finals[0]["state"], hashes[0], credit, losses, trace, tuple(hashes))
