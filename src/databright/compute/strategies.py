"""The execution strategies, and which one a job's spec asks for.

  Single      one unprotected group of the spec's shape (data-parallel workers, or a split model's stages)
  Lone        one worker doing whole units; its next unit is sent before this unit's checkpoint and
              evaluation, so the worker never waits for the coordinator; with spot checks, a unit drawn
              (unpredictably to the worker) is recomputed by another worker from the same state
  Tmr         three disjoint groups of any shape, compared (`verification.py`)
"""

from __future__ import annotations

from typing import Any

from databright.compute.checkpoint import Progress
from databright.compute.data import TrainingData
from databright.compute.executor import Context, Executor, GroupExecutor, Outcome
from databright.compute.groups import execute_lone, execute_parallel, lone_group
from databright.compute.schedule import Unit
from databright.compute.split_exec import SplitGroup, StageLayout
from databright.compute.verification import Tmr, spot_check, spot_checked
from databright.training.spec import JobSpec


class Single:
    def __init__(self, group: GroupExecutor) -> None:
        self.group = group

    def execute(self, ctx: Context, unit: Unit, progress: Progress, state: bytes) -> Outcome:
        r = self.group(ctx, ctx.members(0, unit), unit, progress, state, False)
        return Outcome(r.state, r.hash, r.credit, r.losses)


class Lone:
    def __init__(self) -> None:
        # the next unit, sent ahead: (unit start, worker address, the state hash it continues from, reply)
        self.inflight: tuple[int, str, str, Any] | None = None

    def execute(self, ctx: Context, unit: Unit, progress: Progress, state: bytes) -> Outcome:
        (h,) = ctx.members(0, unit)
        sent, self.inflight = self.inflight, None
        ref = sent[3] if sent is not None and sent[:3] == (unit.start, h.address, progress.state_hash) else None
        r = execute_lone(ctx, h, unit, progress, state, False, ref)
        checked = spot_checked(ctx.spec, ctx.job, unit, ctx.secret)
        nxt = ctx.next_unit
        if nxt is not None and nxt.shards == unit.shards and not checked:
            self.inflight = (nxt.start, h.address, r.hash, ctx.send_unit(h, nxt))
        credit = dict(r.credit)
        if checked:
            credit.update(spot_check(ctx, unit, progress, state, h, r.hash, r.receipts.get(h.address)))
        return Outcome(r.state, r.hash, credit, r.losses)


def group_executor(spec: JobSpec, data: TrainingData) -> GroupExecutor:
    if spec.protections.split_stages > 1:
        return SplitGroup(StageLayout(spec, data.feature_shape, data.n_classes))
    return execute_parallel if spec.workers > 1 else lone_group


def executor_for(spec: JobSpec, data: TrainingData) -> Executor:
    """The strategy the spec's shape and protections call for."""
    group = group_executor(spec, data)
    if spec.protections.redundancy == 3:
        return Tmr(group)
    if spec.protections.split_stages > 1 or spec.workers > 1:
        return Single(group)
    return Lone()
