"""The untrusted worker: a Ray actor holding one replica, with its own Ethereum identity.

A worker never reads the store; it receives only the samples of the steps it is given, as numpy
arrays (a Ray call with numpy arguments costs about 1 ms, the same data as torch tensors about
13 ms). To keep dispatch cheap the coordinator hands it a whole unit of steps per call and gets
back the new state in the same reply, so one call per unit is all a lone worker needs.

Faults exist for tests and benchmarks only, and only when explicitly asked for (`fault=`):
  corrupt:P       with probability P per unit, silently perturbs one weight after training
  crash-after:N   the process exits (as a crash would) on its N+1-th work call
  hang-after:N    never answers its N+1-th work call
  slow:F          takes F times as long as the work needs
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from databright.compute.errors import ComputeError
from databright.compute.spec import JobSpec
from databright.compute.training import Array, Replica, state_hash


@dataclass(frozen=True)
class Fault:
    kind: str
    value: float

    @classmethod
    def parse(cls, text: str | None) -> Fault | None:
        if not text:
            return None
        kind, _, value = text.partition(":")
        if kind not in ("corrupt", "crash-after", "hang-after", "slow") or not value:
            raise ComputeError(f"unknown fault {text!r}: use corrupt:P, crash-after:N, hang-after:N or slow:F")
        try:
            number = float(value)
        except ValueError:
            raise ComputeError(f"fault {text!r} needs a number after the colon") from None
        if number < 0 or (kind == "corrupt" and number > 1):
            raise ComputeError(f"fault {text!r} is out of range")
        return cls(kind, number)


def _job_key(job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int) -> str:
    """What a worker's replica belongs to: job ids repeat across markets, so the spec decides too."""
    return f"{job}:{hashlib.sha256(spec_json).hexdigest()}:{tuple(feature_shape)}:{n_classes}"


class TrainingWorker:
    """The actor's body (wrapped with `ray.remote` by the pool). Stateless between jobs except for
    the replica it was last given."""

    def __init__(self, address: str, fault: str | None = None) -> None:
        self.address = address
        self.fault = Fault.parse(fault)
        self.calls = 0
        self.counters: dict[str, float] = defaultdict(float)  # bytes received and sent, by kind (see `traffic`)
        self.replica: Replica | None = None
        self.stage: Any = None
        self._stage_started = time.perf_counter()
        self.job: str | None = None
        self._rng = random.Random(address)

    def identity(self) -> str:
        return self.address

    def ping(self) -> tuple[str, int]:
        return self.address, os.getpid()

    def traffic(self) -> dict[str, float]:
        """Bytes this worker received and sent since the last call, by kind — samples_in, state_in,
        state_out, shares_out, sums_in (data parallel), activations_in/out and gradients_in/out
        (between stages), labels_in —, and CPU seconds of training work (`cpu_s`; for stages also
        `forward_s` and `backward_s`); then starts counting afresh. Benchmarks read it to show what
        crossed between workers and what the work cost, on a machine where wall time is shared."""
        out = dict(self.counters)
        self.counters = defaultdict(float)
        return out

    def setup(self, job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int,
              state: bytes) -> str:
        """Takes on `job` from `state` (the agreed state the coordinator holds); returns its hash."""
        self.counters["state_in"] += len(state)
        key = _job_key(job, spec_json, feature_shape, n_classes)
        if self.replica is None or self.job != key:
            self.replica = Replica(JobSpec.from_bytes(spec_json), tuple(feature_shape), n_classes)
            self.job = key
        self.replica.load(state)
        return self.replica.state_hash()

    def _replica(self) -> Replica:
        if self.replica is None:
            raise ComputeError(f"worker {self.address} was given work before a job's state")
        return self.replica

    def run_unit(self, xs: Sequence[Array], ys: Sequence[Array], every: int = 0) -> dict[str, Any]:
        """Trains the unit's steps in order; returns losses, the new state and its hash, and with
        `every` > 0 the state's hash after every `every`-th step (`trace`: where redundant groups are
        compared, so a deviation is located to the step)."""
        started, cpu = time.perf_counter(), time.thread_time()
        self._before_work()
        self.counters["samples_in"] += sum(x.nbytes for x in xs) + sum(y.nbytes for y in ys)
        replica = self._replica()
        trace: list[str] = []
        if every > 0:
            losses = []
            for i in range(0, len(xs), every):
                losses += replica.train_steps(xs[i : i + every], ys[i : i + every])
                if i + every < len(xs):
                    trace.append(replica.state_hash())
        else:
            losses = replica.train_steps(xs, ys)
        self._after_work(started)
        self.counters["cpu_s"] += time.thread_time() - cpu
        state = replica.snapshot()
        self.counters["state_out"] += len(state)
        return {"losses": losses, "state": state, "hash": replica.state_hash(), "trace": trace,
                "seconds": time.perf_counter() - started}

    def grad_step(self, grads: Sequence[Array] | None, x: Array, y: Array, batch_total: int) -> dict[str, Any]:
        """Data-parallel step: applies the previous step's summed gradient (if any), then returns
        this part's share of the next one. One round trip per step instead of two."""
        started, cpu = time.perf_counter(), time.thread_time()
        self._before_work()
        replica = self._replica()
        self.counters["samples_in"] += x.nbytes + y.nbytes
        if grads is not None:
            self.counters["sums_in"] += sum(g.nbytes for g in grads)
            replica.apply(grads)
        share, loss_sum = replica.gradient(x, y, batch_total)
        self.counters["shares_out"] += sum(g.nbytes for g in share)
        self._after_work(started, apply=False)
        self.counters["cpu_s"] += time.thread_time() - cpu
        return {"grads": share, "loss_sum": loss_sum, "seconds": time.perf_counter() - started}

    def finish(self, grads: Sequence[Array], with_state: bool) -> dict[str, Any]:
        """Applies a unit's last summed gradient; returns the hash (and the state if asked)."""
        replica = self._replica()
        self.counters["sums_in"] += sum(g.nbytes for g in grads)
        cpu = time.thread_time()
        replica.apply(grads)
        self.counters["cpu_s"] += time.thread_time() - cpu
        self._corrupt()
        state = replica.snapshot() if with_state else None
        self.counters["state_out"] += len(state or b"")
        return {"hash": replica.state_hash(), "state": state}

    # ------------------------------------------------------------ one stage of a split model

    def setup_stage(self, job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int, index: int,
                    state: bytes) -> None:
        """Takes on stage `index` of `job` from its slice of the agreed state (and nothing of the others)."""
        from databright.compute.split import build_stages

        self.counters["state_in"] += len(state)
        key = _job_key(job, spec_json, feature_shape, n_classes) + f":stage{index}"
        if self.stage is None or self.job != key:
            self.stage = build_stages(JobSpec.from_bytes(spec_json), tuple(feature_shape), n_classes)[index]
            self.job, self.replica = key, None
        self.stage.load(state)
        self.stage.loss = 0.0
        self._stage_started = time.perf_counter()

    def _stage(self) -> Any:
        if self.stage is None:
            raise ComputeError(f"worker {self.address} was given stage work before its stage")
        return self.stage

    def stage_forward(self, mb: int, x: Array) -> Array:
        self._before_work()
        cpu = time.thread_time()
        stage = self._stage()
        self.counters["activations_in" if stage.index > 0 else "samples_in"] += x.nbytes
        out: Array = stage.forward(x, mb)
        if not stage.last:
            self.counters["activations_out"] += out.nbytes
        self.counters["forward_s"] += time.thread_time() - cpu
        self.counters["cpu_s"] += time.thread_time() - cpu
        return out

    def stage_backward(self, mb: int, grad: Array | None, y: Array | None, total: int) -> Array | None:
        cpu = time.thread_time()
        stage = self._stage()
        if grad is not None:
            self.counters["gradients_in"] += grad.nbytes
        if y is not None:
            self.counters["labels_in"] += y.nbytes
        result: Array | None = stage.backward(mb, grad, y, total)
        if result is not None:
            self.counters["gradients_out"] += result.nbytes
        self.counters["backward_s"] += time.thread_time() - cpu
        self.counters["cpu_s"] += time.thread_time() - cpu
        return result

    def stage_forward_backward(self, mb: int, x: Array, y: Array, total: int) -> Array | None:
        """The last stage's forward and backward of one micro-batch in one call: its output goes
        nowhere but into the loss, so sending it back first would only cost a round trip."""
        self.stage_forward(mb, x)
        return self.stage_backward(mb, None, y, total)

    def stage_step(self, with_hash: bool = False) -> dict[str, Any]:
        """Applies the batch's gradient; with `with_hash`, also reports the hash of the stage's new
        state (redundant groups compare it step by step)."""
        stage = self._stage()
        cpu = time.thread_time()
        stage.step()
        self.counters["cpu_s"] += time.thread_time() - cpu
        self._corrupt()
        loss, stage.loss = stage.loss, 0.0
        now = time.perf_counter()
        seconds, self._stage_started = now - self._stage_started, now
        digest = state_hash(stage.layers, stage.optimizer) if with_hash else None
        return {"loss": loss, "seconds": seconds, "hash": digest}

    def stage_snapshot(self) -> bytes:
        snap: bytes = self._stage().snapshot()
        self.counters["state_out"] += len(snap)
        return snap

    # ------------------------------------------------------------ test-only faults

    def _before_work(self) -> None:
        self.calls += 1
        f = self.fault
        if f is None:
            return
        if f.kind == "crash-after" and self.calls > f.value:
            os._exit(17)
        if f.kind == "hang-after" and self.calls > f.value:
            while True:
                time.sleep(3600)

    def _after_work(self, started: float, apply: bool = True) -> None:
        f = self.fault
        if f is not None and f.kind == "slow":
            time.sleep(max(0.0, (f.value - 1.0) * (time.perf_counter() - started)))
        if apply:
            self._corrupt()

    def _corrupt(self) -> None:
        f = self.fault
        if f is None or f.kind != "corrupt" or self._rng.random() >= f.value:
            return
        module = self.stage.layers if self.stage is not None and self.replica is None else self._replica().model
        with torch.no_grad():
            first = next(module.parameters())
            flat = first.view(-1)
            flat[self._rng.randrange(flat.numel())] += 1e-3


class WorkerHost:
    """Several worker identities in one process (the body of one Ray actor).

    Each identity is a whole `TrainingWorker` — its own account, replica or stage, and faults — so
    the market treats it exactly as a separate machine; only the process is shared. It exists for
    simulating a market on one machine: a 5 % data cap needs at least 20 workers per group (60 with
    redundancy), and a process per identity would cost ~250 MB of PyTorch each. A real worker runs
    one identity per process (`databright worker start`)."""

    def __init__(self, identities: Sequence[tuple[str, str | None]]) -> None:
        self.workers = {address: TrainingWorker(address, fault) for address, fault in identities}

    def identities(self) -> list[str]:
        return list(self.workers)

    def call(self, address: str, method: str, *args: Any) -> Any:
        worker = self.workers.get(address)
        if worker is None:
            raise ComputeError(f"worker {address} is not hosted here (any more)")
        return getattr(worker, method)(*args)

    def drop(self, address: str) -> None:
        """Removes one identity (a replaced worker) without disturbing the others."""
        self.workers.pop(address, None)
