"""Drives one job's training on untrusted workers, unit by unit, from the last agreed state.

The schedule (`schedule`) is fixed by the spec. A unit is the grain of everything: the coordinator
checkpoints after each, and a worker that dies or does not answer within `worker_timeout` loses the
unit it was doing — it is replaced, the replacement is given the last agreed state and the unit is done
again. Only finished (and, when protected, verified) units are credited, so unfinished work is never paid.

Workers hold *roles* for the whole job: a group's data-parallel slot (`g0.w1`), under a data cap the
owner of a shard (`g2.shard7`), a later stage of a split model (`g1.stage1`), a spot checker. A role
keeps its worker until that worker fails; the roles are checkpointed, so a resumed job goes back to the
same workers (or gives a vacant role a fresh one). Every sample sent to a worker is counted when it is
sent (`expose`), and under a cap nobody is ever sent a sample outside its shard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, wait
from typing import Any, Protocol

import numpy as np

from databright.compute.checkpoint import CheckpointStore, Progress, WorkerStats
from databright.compute.data import TrainingData
from databright.compute.errors import ComputeError, WorkerFault
from databright.compute.evidence import summary
from databright.compute.executor import Credit, Faulty
from databright.compute.handle import UpstreamFailed, WorkerHandle
from databright.compute.schedule import ShardPlan, Unit, group_roles, schedule
from databright.compute.strategies import executor_for
from databright.protocol.errors import ProtocolError
from databright.training.models import check_model
from databright.training.replica import Array, Replica
from databright.training.spec import JobSpec

log = logging.getLogger("databright.compute")
MAX_ATTEMPTS = 5
TRAIN_ACCURACY_SAMPLES = 1000


class WorkerSupply(Protocol):
    """Where the runner gets workers: fresh ones (registered, staked and assigned to the job on-chain)
    and where it reports those that failed."""

    def acquire(self, count: int, exclude: Collection[str]) -> list[WorkerHandle]: ...

    def reclaim(self, address: str) -> WorkerHandle | None:
        """The worker that held a role before a restart, if it is still there and still eligible."""

    def failed(self, handle: WorkerHandle, reason: str) -> None: ...

    def slash(self, handle: WorkerHandle, evidence: dict[str, Any]) -> None: ...


class DeadlineMissed(ComputeError):
    """The job cannot finish before its deadline: it is left for the buyer's refund."""


class JobRunner:
    def __init__(self, job: str, spec: JobSpec, data: TrainingData, supply: WorkerSupply,
                 checkpoints: CheckpointStore, *, too_late: Callable[[], bool] = lambda: False,
                 on_unit: Callable[[Progress], None] | None = None) -> None:
        self.job, self.spec, self.data, self.supply = job, spec, data, supply
        self.checkpoints = checkpoints
        self.secret = checkpoints.secret() if spec.protections.spot_check_rate > 0 else b""
        self.too_late = too_late
        self.on_unit = on_unit
        self.spec_json = spec.to_bytes()
        self.local = Replica(spec, data.feature_shape, data.n_classes)
        check_model(self.local.model, data.feature_shape)
        self.scratch = Replica(spec, data.feature_shape, data.n_classes)  # for comparing results within tolerance
        p = spec.protections
        self.plan = ShardPlan.build(data.n_train, p.data_cap, spec.training.seed) if p.data_cap is not None else None
        self.executor = executor_for(spec, data)  # how each unit is done: the runner knows only the interface
        self.roles: dict[str, WorkerHandle] = {}
        self.holds: dict[str, str] = {}   # worker address -> hash of the state it holds
        self.progress = Progress(job)
        self.next_unit: Unit | None = None

    def run(self) -> tuple[Progress, bytes]:
        """Trains to the end of the schedule (resuming from a checkpoint) and returns the final state."""
        loaded = self.checkpoints.load()
        if loaded is None:
            state = self.local.snapshot()
            self.progress = Progress(self.job, state_hash=self.local.state_hash())
            self.checkpoints.save(self.progress, state)
        else:
            self.progress, state = loaded
            log.info("job %s: resuming at step %d", self.job, self.progress.position)
        todo = [u for u in schedule(self.spec, self.data.n_train) if u.end > self.progress.position]
        for i, unit in enumerate(todo):
            self.next_unit = todo[i + 1] if i + 1 < len(todo) else None
            state = self._do_unit(unit, self.progress, state)
        return self.progress, state

    # ------------------------------------------------------------ roles and data

    def roles_for(self, g: int, unit: Unit) -> list[str]:
        """Group g's roles for this unit, in execution order (data-parallel slots, or stages)."""
        return group_roles(self.spec, g, unit)

    def members(self, g: int, unit: Unit) -> list[WorkerHandle]:
        return [self.roles[r] for r in self.roles_for(g, unit)]

    def _fill(self, roles: list[str]) -> None:
        """Gives every vacant role a worker: its worker from before a restart if it is still eligible,
        else a fresh one that never held another role in this job (so never saw another shard)."""
        progress = self.progress
        vacant = [r for r in roles if r not in self.roles]
        for role in list(vacant):
            address = progress.roles.get(role)
            handle = self.supply.reclaim(address) if address else None
            if handle is not None:
                self.roles[role] = handle
                vacant.remove(role)
        if not vacant:
            return
        used = set(progress.roles.values()) | {h.address for h in self.roles.values()} | set(progress.workers)
        fresh = self.supply.acquire(len(vacant), exclude=used)
        for role, handle in zip(vacant, fresh, strict=False):
            self.roles[role] = handle
            progress.roles[role] = handle.address
        if len(fresh) < len(vacant):
            raise WorkerFault(f"job {self.job} needs {len(vacant)} more workers and only {len(fresh)} are available")

    def checker(self, unit: Unit) -> WorkerHandle:
        """The spot checker for this unit (under a data cap, one per shard: it sees only that shard)."""
        role = f"check.shard{unit.shards[0]}" if unit.shards else "check"
        self._fill([role])
        self.roles[role].at(self.job, unit.start, role)
        return self.roles[role]

    def expose(self, h: WorkerHandle, indices: Array) -> None:
        """Counts the samples about to be sent to `h`; under a cap, refuses to send past the quota."""
        stats = self.progress.workers.setdefault(h.address, WorkerStats())
        seen = np.union1d(np.asarray(stats.distinct, dtype=np.int64), indices)
        if self.plan is not None and len(seen) > self.plan.quota:
            raise ComputeError(f"job {self.job}: sending these samples to {h.address} would pass the data cap "
                               f"({len(seen)} > {self.plan.quota}); nothing was sent")
        if len(seen) != len(stats.distinct):
            stats.distinct = [int(i) for i in seen]

    def parts(self, batch: Array, unit: Unit, width: int) -> list[Array]:
        """A batch's split among data-parallel members: by shard owner under a cap, else evenly."""
        if self.plan is not None:
            return self.plan.split(batch, unit.shards)
        return list(np.array_split(batch, width))

    def send_unit(self, h: WorkerHandle, unit: Unit, every: int = 0) -> Any:
        self.expose(h, np.concatenate(unit.batches))
        x, y = self.data.x_train, self.data.y_train
        return h.run_unit([x[b] for b in unit.batches], [y[b] for b in unit.batches], every)

    def load(self, group: list[WorkerHandle], state: bytes, state_hash: str) -> None:
        """Gives the agreed state to the members that do not hold it already."""
        stale = [h for h in group if self.holds.get(h.address) != state_hash]
        refs = [(h, h.setup(self.job, self.spec_json, list(self.data.feature_shape), self.data.n_classes, state))
                for h in stale]
        for h, reply in zip(stale, self.gather(refs), strict=True):
            if reply != state_hash:
                raise Faulty([h], "loaded state does not match the agreed state")
            self.holds[h.address] = state_hash

    # ------------------------------------------------------------ one unit

    def _do_unit(self, unit: Unit, progress: Progress, state: bytes) -> bytes:
        redundancy = self.spec.protections.redundancy
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self.too_late():
                raise DeadlineMissed(f"job {self.job} cannot finish before its deadline")
            self._fill([r for g in range(redundancy) for r in self.roles_for(g, unit)])
            for role, handle in self.roles.items():  # what the results they sign for this unit are about
                handle.at(self.job, unit.start, role)
            try:
                new_state, new_hash, credit, losses = self._execute(unit, progress, state)
                break
            except Faulty as fault:
                self._drop(fault, unit, progress, attempt)
        else:
            raise WorkerFault(f"job {self.job}: unit at step {unit.start} failed {MAX_ATTEMPTS} times")
        for address, (samples, steps, seconds) in credit.items():
            stats = progress.workers.setdefault(address, WorkerStats())
            stats.units += samples
            stats.samples += samples
            stats.steps += steps
            stats.seconds += seconds
        progress.epoch_losses.extend(losses)
        progress.position = unit.end
        progress.state_hash = new_hash
        progress.units_done += 1
        if unit.evaluate_after is not None:
            self._evaluate(unit.evaluate_after, progress, new_state)
        self.checkpoints.save(progress, new_state)
        if self.on_unit is not None:
            self.on_unit(progress)
        return new_state

    def _drop(self, fault: Faulty, unit: Unit, progress: Progress, attempt: int) -> None:
        for handle in fault.workers:
            log.warning("job %s: worker %s failed at step %d (%s); replacing it", self.job, handle.address,
                        unit.start, fault.reason)
            progress.faults.append({"worker": handle.address, "step": unit.start, "reason": fault.reason,
                                    "attempt": attempt})
            if fault.evidence is not None:
                self.supply.slash(handle, fault.evidence)
                progress.deviations.append({"worker": handle.address, **summary(fault.evidence)})
            for role in [r for r, h in self.roles.items() if h.address == handle.address]:
                del self.roles[role]
                progress.roles.pop(role, None)
            self.holds.pop(handle.address, None)
            handle.close(f"replaced: {fault.reason[:100]}")
            self.supply.failed(handle, fault.reason)
        if not fault.workers:
            raise WorkerFault(f"job {self.job}: {fault.reason}")

    def _execute(self, unit: Unit, progress: Progress, state: bytes) -> tuple[bytes, str, Credit, list[float]]:
        return tuple(self.executor.execute(self, unit, progress, state))  # type: ignore[return-value]

    def gather(self, refs: Sequence[tuple[WorkerHandle, Future[Any]]]) -> list[Any]:
        """Waits for every reply up to the worker timeout (the per-request deadline); a worker that
        disconnected, failed, sent a reply that fails its checks or did not answer in time is a fault.
        A call that was never sent because another worker's output failed blames that other worker,
        unless nobody else failed."""
        if not refs:
            return []
        started = time.monotonic()
        _, pending = wait([r for _, r in refs], timeout=self.spec.worker_timeout)
        faulty, reasons, replies, upstream = [], [], [], []
        for h, r in refs:
            if r in pending:
                faulty.append(h)
                reasons.append(f"no answer within {self.spec.worker_timeout:g} s")
                continue
            exc = r.exception()
            if exc is None:
                replies.append(r.result())
            elif isinstance(exc, ProtocolError):  # the coordinator could not encode its own request: a bug here
                raise exc
            elif isinstance(exc, UpstreamFailed):
                upstream.append((h, str(exc)))
            else:
                faulty.append(h)
                reasons.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        if upstream and not faulty:
            faulty, reasons = [h for h, _ in upstream], [why for _, why in upstream]
        if faulty:
            raise Faulty(faulty, "; ".join(sorted(set(reasons))) + f" after {time.monotonic() - started:.1f} s")
        return replies

    def _evaluate(self, epoch: int, progress: Progress, state: bytes) -> None:
        self.local.load(state)
        d = self.data
        n = min(TRAIN_ACCURACY_SAMPLES, d.n_train)
        losses = progress.epoch_losses
        progress.curve.append({
            "epoch": float(epoch),
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "train_accuracy": self.local.accuracy(d.x_train[:n], d.y_train[:n]),
            "eval_accuracy": self.local.accuracy(d.x_eval, d.y_eval),
        })
        progress.epoch_losses = []
