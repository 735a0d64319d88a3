"""The executor interface: what each execution strategy implements, and the one thing the runner uses.

A strategy (`strategies.py`: lone, data-parallel, split, TMR, spot check) is handed a `Context` — the
runner's services: the job, its data and spec, the roles' workers, sending and gathering, what each
worker holds — and returns a unit's `Outcome`. Group executors (`groups.py`, `split_exec.py`) run one
group of workers and return a `GroupResult` with its trace; verifying strategies (`verification.py`)
compare several. Everything here is types; nothing imports the runner, and the runner imports only
this interface and `strategies.executor_for`, so the modules no longer import each other in a circle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from databright.compute.checkpoint import Progress
from databright.compute.data import TrainingData
from databright.compute.handle import Receipt, WorkerHandle
from databright.compute.schedule import Unit
from databright.training.replica import Array, Replica, arrays_hash
from databright.training.spec import JobSpec

Credit = dict[str, tuple[int, int, float]]  # address -> (sample presentations, steps, seconds) in the unit


class Faulty(Exception):
    """Workers to replace; with `evidence`, they deviated from a majority and are slashed as well."""

    def __init__(self, workers: Sequence[WorkerHandle], reason: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.workers = list(workers)
        self.reason = reason
        self.evidence = evidence


@dataclass
class Position:
    key: str              # the same key names the same position in every group
    worker: WorkerHandle  # who produced the value
    value: Any            # a hex digest, or a future of arrays (hashed only when needed)


def digest(value: Any) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, Future):
        return arrays_hash(value)
    try:
        fetched = value.result(timeout=60)
    except Exception:  # a failed message is no value: it differs from any majority's
        return "failed"
    return "none" if fetched is None else arrays_hash(fetched)


@dataclass
class GroupResult:
    state: bytes
    hash: str             # of `state`, computed by the coordinator when the group is compared
    credit: Credit
    losses: list[float]
    trace: list[Position]
    signature: tuple[str, ...]  # the members' final states: equal signatures, agreeing groups
    receipts: dict[str, Receipt] = field(default_factory=dict)  # a lone worker's signed unit result
    transcripts: dict[str, list[Receipt]] = field(default_factory=dict)  # compared groups: every signed reply


@contextmanager
def recorded(group: Sequence[WorkerHandle], on: bool) -> Iterator[dict[str, list[Receipt]]]:
    """While `on`, keeps every signed reply of the group's members with its body (by address): a split
    stage's or data-parallel member's transcript of the unit, the slash evidence a third party re-runs."""
    kept: dict[str, list[Receipt]] = {}
    if on:
        for h in group:
            h.transcript = kept[h.address] = []
    try:
        yield kept
    finally:
        for h in group:
            h.transcript = None


class Outcome(NamedTuple):
    state: bytes
    hash: str
    credit: Credit
    losses: list[float]


class Context(Protocol):
    """What a strategy may use of the runner."""

    job: str
    spec: JobSpec
    spec_json: bytes
    data: TrainingData
    holds: dict[str, str]   # worker address -> hash of the state it holds
    scratch: Replica        # for comparing results within tolerance, and for a referee's recomputation
    secret: bytes           # keys the spot-check draws
    next_unit: Unit | None  # the unit after this one, if any (a lone worker may be sent it ahead)

    def members(self, g: int, unit: Unit) -> list[WorkerHandle]: ...

    def checker(self, unit: Unit) -> WorkerHandle: ...

    def expose(self, h: WorkerHandle, indices: Array) -> None: ...

    def parts(self, batch: Array, unit: Unit, width: int) -> list[Array]: ...

    def send_unit(self, h: WorkerHandle, unit: Unit, every: int = 0) -> Future[Any]: ...

    def load(self, group: list[WorkerHandle], state: bytes, state_hash: str) -> None: ...

    def gather(self, refs: Sequence[tuple[WorkerHandle, Future[Any]]]) -> list[Any]: ...


class GroupExecutor(Protocol):
    """Runs one group (a lone worker, data-parallel workers, a split model's stages) on a unit."""

    def __call__(self, ctx: Context, group: list[WorkerHandle], unit: Unit, progress: Progress, state: bytes,
                 compare: bool, /) -> GroupResult: ...


class Executor(Protocol):
    """Does one unit from the agreed `state`; raises `Faulty` naming the workers to replace."""

    def execute(self, ctx: Context, unit: Unit, progress: Progress, state: bytes) -> Outcome: ...
