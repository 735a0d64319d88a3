"""Drives one job's training on untrusted workers, unit by unit, from the last agreed state.

The schedule is fixed by the spec: epochs of `batch_order` batches, cut into units of `unit_steps`
steps that never cross an evaluation point (so evaluation falls on a unit boundary). A unit is the grain
of everything: the coordinator talks to a lone worker once per unit, checkpoints after each, and a
worker that dies or does not answer within `worker_timeout` loses the unit it was doing — it is
replaced, the replacement is given the last agreed state and the unit is done again. Only finished
units are credited, so unfinished work is never paid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from databright.compute.checkpoint import CheckpointStore, Progress, WorkerStats
from databright.compute.data import TrainingData
from databright.compute.errors import ComputeError, WorkerFault
from databright.compute.models import check_model
from databright.compute.pool import WorkerHandle, kill_worker
from databright.compute.spec import JobSpec
from databright.compute.split_exec import StageLayout, execute_split
from databright.compute.training import Array, Replica, batch_order, sum_gradients
from databright.compute.verification import Faulty, execute_tmr, spot_check, spot_checked

log = logging.getLogger("databright.compute")
MAX_ATTEMPTS = 5
TRAIN_ACCURACY_SAMPLES = 1000


class WorkerSupply(Protocol):
    """Where the runner gets workers: fresh ones (registered, staked and assigned to the job on-chain)
    and where it reports those that failed."""

    def acquire(self, count: int, exclude: Collection[str]) -> list[WorkerHandle]: ...

    def failed(self, handle: WorkerHandle, reason: str) -> None: ...

    def slash(self, handle: WorkerHandle, evidence: dict[str, Any]) -> None: ...


class DeadlineMissed(ComputeError):
    """The job cannot finish before its deadline: it is left for the buyer's refund."""


@dataclass(frozen=True)
class Unit:
    start: int            # global step index of the unit's first step
    batches: tuple[Array, ...]
    evaluate_after: int | None  # the epoch (1-based) whose end this unit reaches, when one is evaluated there

    @property
    def end(self) -> int:
        return self.start + len(self.batches)


def schedule(spec: JobSpec, n_train: int) -> list[Unit]:
    """Units of `unit_steps` steps over the whole run. They may span epochs (short epochs would
    otherwise make tiny units, and each unit costs a round trip and a checkpoint), but never an
    evaluation point: the end of every `ceil(epochs / eval_points)`-th epoch and of the last one."""
    epochs = spec.training.epochs
    every = -(-epochs // spec.eval_points)
    units: list[Unit] = []
    position = 0
    pending: list[Array] = []
    for epoch in range(epochs):
        for batch in batch_order(n_train, spec.training.batch_size, epoch, spec.training.seed):
            pending.append(batch)
            if len(pending) == spec.unit_steps:
                units.append(Unit(position, tuple(pending), None))
                position, pending = position + len(pending), []
        if (epoch + 1) % every == 0 or epoch + 1 == epochs:
            if pending:
                units.append(Unit(position, tuple(pending), epoch + 1))
                position, pending = position + len(pending), []
            else:  # the last full unit ended exactly on this epoch's end
                last = units[-1]
                units[-1] = Unit(last.start, last.batches, epoch + 1)
    return units


class JobRunner:
    def __init__(self, job: str, spec: JobSpec, data: TrainingData, supply: WorkerSupply,
                 checkpoints: CheckpointStore, *, too_late: Callable[[], bool] = lambda: False,
                 on_unit: Callable[[Progress], None] | None = None) -> None:
        self.job, self.spec, self.data, self.supply = job, spec, data, supply
        self.checkpoints = checkpoints
        self.too_late = too_late
        self.on_unit = on_unit
        self.spec_json = spec.to_bytes()
        self.local = Replica(spec, data.feature_shape, data.n_classes)
        check_model(self.local.model, data.feature_shape)
        self.scratch = Replica(spec, data.feature_shape, data.n_classes)  # for comparing results within tolerance
        self.group: list[WorkerHandle] = []
        self.holds: dict[str, str] = {}   # worker address -> hash of the state it holds
        self.next_unit: Unit | None = None
        self.checker: WorkerHandle | None = None  # the worker that recomputes spot-checked units
        split = spec.protections.split_stages > 1
        self.layout = StageLayout(spec, data.feature_shape, data.n_classes) if split else None
        # a lone worker's next unit, sent before this unit's checkpoint and evaluation so the worker never
        # waits for the coordinator: (unit start, worker address, the state hash it continues from, reply)
        self.inflight: tuple[int, str, str, Any] | None = None

    def run(self) -> tuple[Progress, bytes]:
        """Trains to the end of the schedule (resuming from a checkpoint) and returns the final state."""
        loaded = self.checkpoints.load()
        if loaded is None:
            state = self.local.snapshot()
            progress = Progress(self.job, state_hash=self.local.state_hash())
            self.checkpoints.save(progress, state)
        else:
            progress, state = loaded
            log.info("job %s: resuming at step %d", self.job, progress.position)
        todo = [u for u in schedule(self.spec, self.data.n_train) if u.end > progress.position]
        for i, unit in enumerate(todo):
            self.next_unit = todo[i + 1] if i + 1 < len(todo) else None
            state = self._do_unit(unit, progress, state)
        return progress, state

    # ------------------------------------------------------------ one unit

    def _do_unit(self, unit: Unit, progress: Progress, state: bytes) -> bytes:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self.too_late():
                raise DeadlineMissed(f"job {self.job} cannot finish before its deadline")
            self._fill_group(progress)
            try:
                new_state, new_hash, credit, losses = self._execute(unit, progress, state)
                break
            except Faulty as fault:
                self._drop(fault, unit, progress, attempt)
        else:
            raise WorkerFault(f"job {self.job}: unit at step {unit.start} failed {MAX_ATTEMPTS} times")
        for address, (samples, steps, seconds, indices) in credit.items():
            stats = progress.workers.setdefault(address, WorkerStats())
            stats.units += samples
            stats.samples += samples
            stats.steps += steps
            stats.seconds += seconds
            stats.distinct = sorted(set(stats.distinct).union(indices.tolist()))
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

    def _fill_group(self, progress: Progress) -> None:
        needed = self.spec.workers * self.spec.protections.redundancy * self.spec.protections.split_stages
        missing = needed - len(self.group)
        if missing > 0:
            self.group += self.supply.acquire(missing, exclude={h.address for h in self.group})
            progress.group = [h.address for h in self.group]
        if len(self.group) < needed:
            raise WorkerFault(f"job {self.job} needs {needed} workers and only {len(self.group)} are available")

    def _drop(self, fault: Faulty, unit: Unit, progress: Progress, attempt: int) -> None:
        for handle in fault.workers:
            log.warning("job %s: worker %s failed at step %d (%s); replacing it", self.job, handle.address,
                        unit.start, fault.reason)
            progress.faults.append({"worker": handle.address, "step": unit.start, "reason": fault.reason,
                                    "attempt": attempt})
            if fault.evidence is not None:
                self.supply.slash(handle, fault.evidence)
                progress.deviations.append({"worker": handle.address, **fault.evidence})
            self.group = [h for h in self.group if h.address != handle.address]
            if self.checker is not None and self.checker.address == handle.address:
                self.checker = None
            self.holds.pop(handle.address, None)
            kill_worker(handle)
            self.supply.failed(handle, fault.reason)

    def _load(self, state: bytes, state_hash: str) -> None:
        stale = [h for h in self.group if self.holds.get(h.address) != state_hash]
        refs = [(h, h.actor.setup.remote(self.job, self.spec_json, list(self.data.feature_shape),
                                         self.data.n_classes, state)) for h in stale]
        for h, reply in zip(stale, self.gather(refs), strict=True):
            if reply != state_hash:
                raise Faulty([h], "loaded state does not match the agreed state")
            self.holds[h.address] = state_hash

    def _execute(self, unit: Unit, progress: Progress, state: bytes) -> tuple[
            bytes, str, dict[str, tuple[int, int, float, Array]], list[float]]:
        if self.layout is not None:
            return execute_split(self, unit, progress, state, self.layout)
        if self.spec.protections.redundancy == 3:
            self._load(state, progress.state_hash)
            return execute_tmr(self, unit, progress)
        if len(self.group) == 1:
            (h,) = self.group
            sent, self.inflight = self.inflight, None
            if sent is not None and sent[:3] == (unit.start, h.address, progress.state_hash):
                ref = sent[3]
            else:
                self._load(state, progress.state_hash)
                ref = self.send_unit(h, unit)
            (reply,) = self.gather([(h, ref)])
            self.holds[h.address] = reply["hash"]
            if self.next_unit is not None:
                self.inflight = (self.next_unit.start, h.address, reply["hash"], self.send_unit(h, self.next_unit))
            indices = np.unique(np.concatenate(unit.batches))
            samples = sum(len(b) for b in unit.batches)
            credit = {h.address: (samples, len(unit.batches), reply["seconds"], indices)}
            if spot_checked(self.spec, self.job, unit):
                credit.update(spot_check(self, unit, progress, state, h, reply["hash"]))
            return reply["state"], reply["hash"], credit, list(reply["losses"])
        self._load(state, progress.state_hash)
        return self._execute_parallel(unit)

    def send_unit(self, h: WorkerHandle, unit: Unit) -> Any:
        x, y = self.data.x_train, self.data.y_train
        return h.actor.run_unit.remote([x[b] for b in unit.batches], [y[b] for b in unit.batches])

    def _execute_parallel(self, unit: Unit) -> tuple[bytes, str, dict[str, tuple[int, int, float, Array]],
                                                     list[float]]:
        x, y = self.data.x_train, self.data.y_train
        group = list(self.group)
        seconds = dict.fromkeys((h.address for h in group), 0.0)
        seen: dict[str, list[Array]] = {h.address: [] for h in group}
        grads: list[Array] | None = None
        losses = []
        for batch in unit.batches:
            parts = np.array_split(batch, len(group))
            replies = self.gather([(h, h.actor.grad_step.remote(grads, x[p], y[p], len(batch)))
                                 for h, p in zip(group, parts, strict=True)])
            grads = sum_gradients([r["grads"] for r in replies])
            losses.append(sum(r["loss_sum"] for r in replies) / len(batch))
            for h, p, r in zip(group, parts, replies, strict=True):
                seconds[h.address] += r["seconds"]
                seen[h.address].append(p)
        assert grads is not None
        finals = self.gather([(h, h.actor.finish.remote(grads, i == 0)) for i, h in enumerate(group)])
        hashes = [f["hash"] for f in finals]
        majority = max(set(hashes), key=hashes.count)
        deviating = [h for h, v in zip(group, hashes, strict=True) if v != majority]
        if deviating:
            raise Faulty(deviating if hashes.count(majority) * 2 > len(hashes) else group,
                          "replicas disagree after the unit")
        state = finals[0]["state"]
        for h in group:
            self.holds[h.address] = majority
        credit = {}
        for h in group:
            idx = np.concatenate(seen[h.address])
            credit[h.address] = (len(idx), len(unit.batches), seconds[h.address], np.unique(idx))
        return state, majority, credit, losses

    def gather(self, refs: Sequence[tuple[WorkerHandle, Any]]) -> list[Any]:
        """Waits for every reply up to the worker timeout; any worker that died, failed or hung is a fault."""
        import ray

        if not refs:
            return []
        started = time.monotonic()
        _, pending = ray.wait([r for _, r in refs], num_returns=len(refs), timeout=self.spec.worker_timeout)
        pending_set = set(pending)
        faulty, reasons, replies = [], [], []
        for h, r in refs:
            if r in pending_set:
                faulty.append(h)
                reasons.append(f"no answer within {self.spec.worker_timeout:g} s")
                continue
            try:
                replies.append(ray.get(r))
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
                faulty.append(h)
                reasons.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}")
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
