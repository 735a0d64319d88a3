"""The coordinator service: follows posted jobs, trains them on workers, settles them on-chain.

The coordinator is the trusted party of the paper: it reads the dataset with its on-chain right,
and workers see only what it sends them. Its loop is restartable at every point: jobs are found from
`JobPosted` events (the scanned block is kept in `state.json`) and from the chain's own record of
which accepted jobs it holds, and each job resumes from its checkpoint. A job it cannot run (a bad
spec, protections it does not offer) is never accepted; a job it cannot finish before the deadline is
abandoned to the buyer's refund. An unreachable chain or store makes `run` back off and retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from databright.chain.compute_market import Job, JobState
from databright.compute.checkpoint import CheckpointStore, Progress
from databright.compute.data import TrainingData, load_registry, prepare
from databright.compute.errors import ComputeError, JobSpecError
from databright.compute.evidence import store_attachments
from databright.compute.handle import WorkerHandle
from databright.compute.job_value import settle_values
from databright.compute.report import JobContext, build_report, report_bytes
from databright.compute.runner import DeadlineMissed, JobRunner
from databright.compute.schedule import workers_needed
from databright.compute.sealing import seal
from databright.market import Market
from databright.market.compute import ComputeClient
from databright.rounds import run_rounds
from databright.store.client import StoreClient
from databright.training.replica import Replica
from databright.training.spec import JobSpec

log = logging.getLogger("databright.coordinator")


@dataclass(frozen=True)
class JobOutcome:
    job_id: int
    status: str            # completed | abandoned | refused
    detail: str = ""
    report_cid: str | None = None


def staked(compute: ComputeClient, address: str) -> bool:
    """Whether `address` is a registered worker with at least the market's minimum stake."""
    info = compute.worker(address)
    return info.registered and info.stake >= compute.min_stake


def chain_admission(compute: ComputeClient) -> Callable[[str], str | None]:
    """The gateway's admission rule: a registered worker, staked at least the minimum (a slash takes
    the whole stake, so a slashed worker is refused until it stakes again)."""

    def admit(address: str) -> str | None:
        info = compute.worker(address)
        if not info.registered:
            return f"{address} is not a registered worker"
        if info.stake < compute.min_stake:
            return f"{address} has {info.stake} wei staked, below the minimum {compute.min_stake} (slashed?)"
        return None

    return admit


class ChainWorkerSupply:
    """Workers for one job: connected workers whose accounts are registered with at least the minimum
    stake, assigned to the job on-chain before they get any work (so they can be paid or slashed)."""

    def __init__(self, compute: ComputeClient, job_id: int, source: Callable[[], list[WorkerHandle]],
                 store: StoreClient, patience: float = 0.0) -> None:
        self.compute, self.job_id, self.source, self.store = compute, job_id, source, store
        self.patience = patience  # seconds to wait for workers to (re)connect before the job is short of them
        self.failed_workers: set[str] = set()
        # groups are drawn at random, reproducibly per job (who is drawn is no secret: the chain shows it)
        self.rng = random.Random(job_id)  # noqa: S311

    def acquire(self, count: int, exclude: Collection[str]) -> list[WorkerHandle]:
        deadline = time.monotonic() + self.patience
        while True:
            chosen = self._choose(count, exclude)
            if len(chosen) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        fresh = [h.address for h in chosen if h.address not in set(self.compute.job(self.job_id).workers)]
        if fresh:
            self.compute.assign_workers(self.job_id, fresh)
        return chosen

    def _choose(self, count: int, exclude: Collection[str]) -> list[WorkerHandle]:
        assigned = set(self.compute.job(self.job_id).workers)
        candidates = [h for h in self.source() if h.address not in exclude and h.address not in self.failed_workers]
        # workers already assigned to this job first (a resumed job keeps its workers), then in random order
        candidates.sort(key=lambda h: h.address.lower())
        self.rng.shuffle(candidates)
        candidates.sort(key=lambda h: h.address not in assigned)
        chosen: list[WorkerHandle] = []
        for h in candidates:
            if len(chosen) == count:
                break
            if h.alive and staked(self.compute, h.address):
                chosen.append(h)
        return chosen

    def reclaim(self, address: str) -> WorkerHandle | None:
        """A worker this job had before a restart: still live, staked, not failed and assigned."""
        if address in self.failed_workers or address not in set(self.compute.job(self.job_id).workers):
            return None
        deadline = time.monotonic() + self.patience
        handle = next((h for h in self.source() if h.address == address), None)
        while (handle is None or not handle.alive) and time.monotonic() < deadline:
            time.sleep(0.5)
            handle = next((h for h in self.source() if h.address == address), None)
        if handle is None or not handle.alive:
            return None
        return handle if staked(self.compute, address) else None

    def failed(self, handle: WorkerHandle, reason: str) -> None:
        self.failed_workers.add(handle.address)

    def slash(self, handle: WorkerHandle, evidence: dict[str, Any]) -> None:
        """Stores the evidence (with its attachments: the unit's input state, the signed replies) and slashes
        the worker's stake on-chain (it goes to the buyer)."""
        store_attachments(evidence, self.store.upload_bytes)
        cid = self.store.upload_bytes(json.dumps(evidence, sort_keys=True).encode())
        evidence["evidence_cid"] = cid
        amount = self.compute.slash(self.job_id, handle.address, cid)
        log.warning("job %d: worker %s slashed %d wei, evidence %s", self.job_id, handle.address, amount, cid)


class Coordinator:
    def __init__(self, market: Market, store: StoreClient, folder: Path, *,
                 workers: Callable[[], list[WorkerHandle]],
                 on_unit: Callable[[int, Progress], None] | None = None, patience: float = 0.0) -> None:
        self.market, self.store, self.folder = market, store, folder
        self.compute = market.compute
        self.workers = workers
        self.on_unit = on_unit
        self.patience = patience
        folder.mkdir(parents=True, exist_ok=True)
        self.state_path = folder / "state.json"
        self.scanned_to = self.market.deployment.block - 1
        self.closed: dict[int, str] = {}
        self.short_of_workers: dict[int, str] = {}  # posted jobs the pool cannot staff yet, and why
        if self.state_path.exists():
            raw = json.loads(self.state_path.read_text())
            self.scanned_to = int(raw["scanned_to"])
            self.closed = {int(k): v for k, v in raw["closed"].items()}

    @property
    def address(self) -> str:
        return self.market.account

    def _save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"scanned_to": self.scanned_to, "closed": self.closed}))
        tmp.replace(self.state_path)

    def _close(self, job_id: int, status: str) -> None:
        self.closed[job_id] = status
        self._save()

    # ------------------------------------------------------------ the loop

    def run_once(self) -> list[JobOutcome]:
        """Looks at every job posted since the last round and every job still open, once each."""
        posted, latest = self.compute.posted_since(self.scanned_to + 1)
        self.scanned_to = latest
        self._save()
        open_jobs = [j for j in range(1, self.compute.job_count() + 1) if j not in self.closed]
        outcomes = []
        for job_id in sorted(set(open_jobs) | set(posted)):
            if job_id in self.closed:
                continue
            outcome = self.handle(self.compute.job(job_id))
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def run(self, poll: float = 2.0, should_stop: Callable[[], bool] = lambda: False,
            sleep: Callable[[float], None] = time.sleep) -> None:
        """Rounds until `should_stop`; an unreachable chain or store means wait and retry, doubling to 60 s."""
        run_rounds(self.run_once, log, poll, should_stop, sleep)

    # ------------------------------------------------------------ one job

    def handle(self, job: Job) -> JobOutcome | None:
        if job.state in (JobState.COMPLETED, JobState.REFUNDED):
            self._close(job.id, job.state.name.lower())
            return None
        if job.state == JobState.ACCEPTED and job.coordinator != self.address:
            self._close(job.id, "taken by another coordinator")
            return None
        if self.market.chain.now() >= job.deadline:
            self._close(job.id, "abandoned")
            return JobOutcome(job.id, "abandoned", "deadline passed")
        try:
            spec = JobSpec.from_bytes(self.store.get_bytes(job.spec_cid), source=f"job {job.id}'s spec")
            self._check_offer(job, spec)
        except JobSpecError as exc:
            log.warning("job %d refused: %s", job.id, exc)
            self._close(job.id, "refused")
            return JobOutcome(job.id, "refused", str(exc))
        data = self._data(job, spec)
        if job.state == JobState.POSTED:
            try:
                self._check_pool(spec, data)
            except JobSpecError as exc:  # not closed: once enough workers join, the job is taken
                if self.short_of_workers.get(job.id) != str(exc):
                    log.warning("job %d not accepted yet: %s", job.id, exc)
                self.short_of_workers[job.id] = str(exc)
                return JobOutcome(job.id, "refused", str(exc))
            self.short_of_workers.pop(job.id, None)
            self.compute.accept_job(job.id)
            log.info("job %d accepted", job.id)
        return self._train_and_settle(job, spec, data)

    def _check_offer(self, job: Job, spec: JobSpec) -> None:
        if spec.dataset != job.database:
            raise JobSpecError(f"the spec names dataset {spec.dataset}, the job pays for {job.database}")
        p = spec.protections
        if p.split_stages > 1 and spec.workers != 1:
            raise JobSpecError("model splitting runs one worker per stage here: set workers to 1")
        if p.spot_check_rate > 0 and (spec.workers != 1 or p.split_stages > 1):
            raise JobSpecError("spot checks verify one-worker groups here: set workers to 1, no splitting")
        if p.redundancy == 3 and p.spot_check_rate > 0:
            raise JobSpecError("choose either redundancy 3 or spot checks, not both")
        if p.tolerance is not None and (spec.workers != 1 or p.split_stages > 1):
            raise JobSpecError("the tolerance mode compares one-worker groups only: set workers to 1, no splitting")

    def _check_pool(self, spec: JobSpec, data: TrainingData) -> None:
        """Refuses, before accepting, a job the pool cannot staff (a data cap needs a worker per shard)."""
        need = workers_needed(spec, data.n_train)
        have = sum(1 for h in self.workers() if staked(self.compute, h.address))
        if have < need:
            cap = spec.protections.data_cap
            why = (f"a data cap of {cap:g} on {data.n_train} samples needs {need} workers" if cap is not None
                   else f"it needs {need} workers")
            raise JobSpecError(f"{why} (with redundancy {spec.protections.redundancy}); the pool has {have}")

    def _data(self, job: Job, spec: JobSpec) -> TrainingData:
        dataset_spec, cids, parts = load_registry(self.market, self.store, job.database)
        return prepare(parts, dataset_spec, spec.eval_fraction, spec.training.seed, cids)

    def _unit_hook(self, job_id: int) -> Callable[[Progress], None] | None:
        hook = self.on_unit
        if hook is None:
            return None
        return lambda progress: hook(job_id, progress)

    def _train_and_settle(self, job: Job, spec: JobSpec, data: TrainingData) -> JobOutcome:
        checkpoints = CheckpointStore(self.folder / "jobs" / str(job.id))
        runner = JobRunner(
            str(job.id), spec, data,
            ChainWorkerSupply(self.compute, job.id, self.workers, self.store, self.patience), checkpoints,
            too_late=lambda: self.market.chain.now() >= job.deadline,
            on_unit=self._unit_hook(job.id),
        )
        try:
            progress, state = runner.run()
        except DeadlineMissed as exc:
            log.warning("%s; leaving it to the buyer's refund", exc)
            self._close(job.id, "abandoned")
            return JobOutcome(job.id, "abandoned", str(exc))
        final = Replica(spec, data.feature_shape, data.n_classes)
        final.load(state)
        model = final.model_bytes()
        model_hash = hashlib.sha256(model).digest()
        result_cid = self.store.upload_bytes(seal(model, spec.buyer_key))
        ctx = JobContext(job.id, job.database, job.spec_cid, job.buyer, self.address)
        report = build_report(ctx, spec, data, progress, final, model_hash.hex())
        value = settle_values(self.market, self.store, job, spec, data, final.model, model_hash.hex())
        report["value_report"] = value.value_cid
        report_cid = self.store.upload_bytes(report_bytes(report))
        assigned = set(self.compute.job(job.id).workers)
        units = {a: s.units for a, s in progress.workers.items() if s.units > 0 and a in assigned}
        if not units:
            raise ComputeError(f"job {job.id} finished without any verified unit")
        self.compute.complete_job(job.id, result_cid, model_hash, report_cid, units, value.value_cid, value.payouts)
        checkpoints.mark(progress, "completed")
        self._close(job.id, "completed")
        log.info("job %d completed: eval accuracy %.3f", job.id, report["final"]["eval_accuracy"])
        return JobOutcome(job.id, "completed", report_cid=report_cid)
