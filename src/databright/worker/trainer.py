"""A worker identity's training state and the work it is asked to do, one method per request kind.

A worker never reads the store; it receives only the samples of the steps it is given, and gives
back only what it computed: a unit's new state, a gradient share, a stage's activations or input
gradients. It keeps one replica (or one stage) between requests. The hooks `before_work`,
`after_work` and `after_update` do nothing here: the test and demo worker (`demo/faulty_worker.py`)
overrides them to misbehave; the production class has no way to.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from databright.training.errors import ComputeError
from databright.training.replica import Array, Replica, state_hash
from databright.training.spec import JobSpec
from databright.training.split import Stage, build_stages


def _job_key(job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int) -> str:
    """What a worker's replica belongs to: job ids repeat across markets, so the spec decides too."""
    return f"{job}:{hashlib.sha256(spec_json).hexdigest()}:{tuple(feature_shape)}:{n_classes}"


class Trainer:
    """One identity's work. Stateless between jobs except for the replica or stage it was last given."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.counters: dict[str, float] = defaultdict(float)  # bytes received and sent, by kind (see `traffic`)
        self.replica: Replica | None = None
        self.stage: Stage | None = None
        self._stage_started = time.perf_counter()
        self.job: str | None = None

    def ping(self) -> tuple[str, int]:
        return self.address, os.getpid()

    def traffic(self) -> dict[str, float]:
        """Bytes this worker received and sent since the last call, by kind — samples_in, state_in,
        state_out, shares_out, sums_in (data parallel), activations_in/out and gradients_in/out
        (between stages), labels_in —, and CPU seconds of training work (`cpu_s`; for stages also
        `forward_s` and `backward_s`); then starts counting afresh."""
        out = dict(self.counters)
        self.counters = defaultdict(float)
        return out

    def setup(self, job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int, state: bytes) -> str:
        """Takes on `job` from `state` (the agreed state the coordinator holds); returns its hash."""
        self.counters["state_in"] += len(state)
        key = _job_key(job, spec_json, feature_shape, n_classes)
        if self.replica is None or self.job != key:
            self.replica = Replica(JobSpec.from_bytes(spec_json), tuple(feature_shape), n_classes)
            self.job, self.stage = key, None
        self.replica.load(state)
        return self.replica.state_hash()

    def _replica(self) -> Replica:
        if self.replica is None:
            raise ComputeError(f"worker {self.address} was given work before a job's state")
        return self.replica

    def run_unit(self, xs: Sequence[Array], ys: Sequence[Array], every: int = 0) -> dict[str, Any]:
        """Trains the unit's steps in order; returns losses, the new state and its hash, and with
        `every` > 0 the state's hash after every `every`-th step (`trace`)."""
        started, cpu = time.perf_counter(), time.thread_time()
        self.before_work()
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
        self.after_work(started)
        self.after_update()
        self.counters["cpu_s"] += time.thread_time() - cpu
        state = replica.snapshot()
        self.counters["state_out"] += len(state)
        return {"losses": losses, "state": state, "hash": replica.state_hash(), "trace": trace,
                "seconds": time.perf_counter() - started}

    def grad_step(self, grads: Sequence[Array] | None, x: Array, y: Array, batch_total: int) -> dict[str, Any]:
        """Data-parallel step: applies the previous step's summed gradient (if any), then returns
        this part's share of the next one. One round trip per step instead of two."""
        started, cpu = time.perf_counter(), time.thread_time()
        self.before_work()
        replica = self._replica()
        self.counters["samples_in"] += x.nbytes + y.nbytes
        if grads is not None:
            self.counters["sums_in"] += sum(g.nbytes for g in grads)
            replica.apply(grads)
        share, loss_sum = replica.gradient(x, y, batch_total)
        self.counters["shares_out"] += sum(g.nbytes for g in share)
        self.after_work(started)
        self.counters["cpu_s"] += time.thread_time() - cpu
        return {"grads": share, "loss_sum": loss_sum, "seconds": time.perf_counter() - started}

    def finish(self, grads: Sequence[Array], with_state: bool) -> dict[str, Any]:
        """Applies a unit's last summed gradient; returns the hash (and the state if asked)."""
        replica = self._replica()
        self.counters["sums_in"] += sum(g.nbytes for g in grads)
        cpu = time.thread_time()
        replica.apply(grads)
        self.counters["cpu_s"] += time.thread_time() - cpu
        self.after_update()
        state = replica.snapshot() if with_state else None
        self.counters["state_out"] += len(state or b"")
        return {"hash": replica.state_hash(), "state": state}

    # ------------------------------------------------------------ one stage of a split model

    def setup_stage(self, job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int, index: int,
                    state: bytes) -> None:
        """Takes on stage `index` of `job` from its slice of the agreed state (and nothing of the others)."""
        self.counters["state_in"] += len(state)
        key = _job_key(job, spec_json, feature_shape, n_classes) + f":stage{index}"
        if self.stage is None or self.job != key:
            stages = build_stages(JobSpec.from_bytes(spec_json), tuple(feature_shape), n_classes)
            if index >= len(stages):
                raise ComputeError(f"stage {index} of a {len(stages)}-stage job")
            self.stage = stages[index]
            self.job, self.replica = key, None
        self.stage.load(state)
        self.stage.loss = 0.0
        self._stage_started = time.perf_counter()

    def _stage(self) -> Stage:
        if self.stage is None:
            raise ComputeError(f"worker {self.address} was given stage work before its stage")
        return self.stage

    def stage_forward(self, mb: int, x: Array) -> Array:
        self.before_work()
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
        """The last stage's forward and backward of one micro-batch in one request: its output goes
        nowhere but into the loss, so sending it back first would only cost a round trip."""
        self.stage_forward(mb, x)
        return self.stage_backward(mb, None, y, total)

    def stage_step(self, with_hash: bool = False) -> dict[str, Any]:
        """Applies the batch's gradient; with `with_hash`, also reports the hash of the stage's new state."""
        stage = self._stage()
        cpu = time.thread_time()
        stage.step()
        self.counters["cpu_s"] += time.thread_time() - cpu
        self.after_update()
        loss, stage.loss = stage.loss, 0.0
        now = time.perf_counter()
        seconds, self._stage_started = now - self._stage_started, now
        digest = state_hash(stage.layers, stage.optimizer) if with_hash else None
        return {"loss": loss, "seconds": seconds, "hash": digest}

    def stage_snapshot(self) -> bytes:
        snap: bytes = self._stage().snapshot()
        self.counters["state_out"] += len(snap)
        return snap

    # ------------------------------------------------------------ hooks (no-ops in production)

    def before_work(self) -> None:
        """Called before each work request."""

    def after_work(self, started: float) -> None:
        """Called after a unit or gradient share is computed."""

    def after_update(self) -> None:
        """Called after the weights were updated."""
