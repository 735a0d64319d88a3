"""Typed wrapper of the ComputeMarket contract: Python values in, Python values out.

Like the other wrappers it speaks the contract's units (wei, 32-byte digests, unix seconds)
on the way in. On the way out a job is decoded once into a `Job` whose content ids are CID
text and whose model hash is hex, because every reader (coordinator, CLI, store rights)
wants those and nobody wants to re-derive them from raw tuples. Events are read here too,
so that the market layer never touches web3 log filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from web3.logs import DISCARD

from databright.chain.connection import Chain
from databright.chain.contracts import _Wrapper
from databright.cid import cid_from_digest

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_DIGEST = bytes(32)


class JobState(IntEnum):
    """A job's life: posted (escrowed) → accepted (a coordinator holds it) → completed or refunded."""

    NONE = 0
    POSTED = 1
    ACCEPTED = 2
    COMPLETED = 3
    REFUNDED = 4


@dataclass(frozen=True)
class Job:
    """One job as the chain holds it; the result fields are None until it completes."""

    id: int
    buyer: str
    database: str
    spec_cid: str
    data_fee: int
    compute_fee: int
    deadline: int
    coordinator: str | None
    state: JobState
    result_cid: str | None
    model_hash: str | None  # hex, no 0x: compares equal to hashlib's hexdigest()
    report_cid: str | None
    total_units: int
    workers: list[str]  # everyone ever assigned, in order (slashed ones included)

    @property
    def open(self) -> bool:
        """Whether the job still holds escrow (posted or accepted)."""
        return self.state in (JobState.POSTED, JobState.ACCEPTED)


@dataclass(frozen=True)
class WorkerInfo:
    address: str
    stake: int
    open_jobs: int
    registered: bool


@dataclass(frozen=True)
class CoordinatorInfo:
    address: str
    signing_key: str
    quote_hash: str  # hex, no 0x
    approved_block: int
    approved: bool


@dataclass(frozen=True)
class JobValuePayout:
    """What completeJob records of a job's value payouts: the Merkle root of (contributor,
    amount) leaves, the value report's digest and the amounts' sum (wei)."""

    root: bytes
    report: bytes
    total: int


@dataclass(frozen=True)
class JobValueState:
    """jobValue(): the value share fixed at posting, the root's first 20 bytes (zero if none)
    and the wei not yet claimed."""

    value_share_bps: int
    root_prefix: bytes
    unclaimed: int


def _cid_or_none(digest: bytes) -> str | None:
    return None if bytes(digest) == ZERO_DIGEST else cid_from_digest(bytes(digest))


class ComputeMarket(_Wrapper):
    def __init__(self, chain: Chain, address: str) -> None:
        super().__init__(chain, "ComputeMarket", address)

    def with_chain(self, chain: Chain) -> ComputeMarket:
        return ComputeMarket(chain, self.address)

    # ------------------------------------------------------------ views

    def min_stake(self) -> int:
        return int(self._call("minStake"))

    def governance(self) -> str:
        return str(self._call("governance"))

    def job_count(self) -> int:
        return int(self._call("jobCount"))

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", account))

    def totals(self) -> tuple[int, int, int]:
        """(escrow, stakes, owed): together they are all the ether the contract holds."""
        return int(self._call("totalEscrow")), int(self._call("totalStake")), int(self._call("totalOwed"))

    def worker(self, account: str) -> WorkerInfo:
        stake, open_jobs, registered = self._call("worker", account)
        return WorkerInfo(self.chain.w3.to_checksum_address(account), int(stake), int(open_jobs), bool(registered))

    def coordinator(self, account: str) -> CoordinatorInfo:
        key, quote_hash, block, approved = self._call("coordinator", account)
        return CoordinatorInfo(self.chain.w3.to_checksum_address(account), str(key), bytes(quote_hash).hex(),
                               int(block), bool(approved))

    def is_coordinator(self, account: str) -> bool:
        return bool(self._call("isCoordinator", account))

    def coordinator_endpoint(self, account: str) -> tuple[str, bytes]:
        """(url, SHA-256 of its TLS certificate) the coordinator published; ("", zero) if none."""
        url, cert = self._call("coordinatorEndpoint", account)
        return str(url), bytes(cert)

    def job(self, job_id: int) -> Job:
        buyer, database, spec, data_fee, compute_fee, deadline, coordinator, state = self._call("job", job_id)
        result, model, report, total_units = self._call("jobResult", job_id)
        return Job(
            id=job_id, buyer=str(buyer), database=str(database),
            spec_cid=cid_from_digest(bytes(spec)) if bytes(spec) != ZERO_DIGEST else "",
            data_fee=int(data_fee), compute_fee=int(compute_fee), deadline=int(deadline),
            coordinator=None if str(coordinator) == ZERO_ADDRESS else str(coordinator),
            state=JobState(int(state)), result_cid=_cid_or_none(result),
            model_hash=None if bytes(model) == ZERO_DIGEST else bytes(model).hex(),
            report_cid=_cid_or_none(report), total_units=int(total_units),
            workers=[str(w) for w in self._call("jobWorkers", job_id)],
        )

    def units_of(self, job_id: int, account: str) -> int:
        return int(self._call("unitsOf", job_id, account))

    def is_assigned(self, job_id: int, account: str) -> bool:
        return bool(self._call("isAssigned", job_id, account))

    def is_slashed(self, job_id: int, account: str) -> bool:
        return bool(self._call("isSlashed", job_id, account))

    # ------------------------------------------------------------ transactions

    def register_worker(self, stake: int) -> int:
        """Registers (or tops up) the sender; returns its total stake."""
        return int(self._event(self._send("registerWorker", value=stake), "WorkerRegistered")["stake"])

    def leave(self) -> int:
        """Deregisters the sender; returns the stake moved to its pull balance."""
        return int(self._event(self._send("leave"), "WorkerLeft")["stake"])

    def approve_coordinator(self, account: str, signing_key: str, quote_hash: bytes) -> None:
        self._send("approveCoordinator", account, signing_key, quote_hash)

    def revoke_coordinator(self, account: str) -> None:
        self._send("revokeCoordinator", account)

    def set_coordinator_endpoint(self, url: str, cert_sha256: bytes) -> None:
        self._send("setCoordinatorEndpoint", url, cert_sha256)

    def transfer_governance(self, to: str) -> None:
        self._send("transferGovernance", to)

    def post_job(self, database: str, spec_digest: bytes, data_fee: int, deadline: int, value: int) -> int:
        receipt = self._send("postJob", database, spec_digest, data_fee, deadline, value=value)
        return int(self._event(receipt, "JobPosted")["jobId"])

    def accept_job(self, job_id: int) -> None:
        self._send("acceptJob", job_id)

    def assign_workers(self, job_id: int, workers: list[str]) -> None:
        self._send("assignWorkers", job_id, workers)

    def slash(self, job_id: int, worker: str, evidence_digest: bytes) -> int:
        """Returns the stake taken from the worker (credited to the job's buyer)."""
        return int(self._event(self._send("slash", job_id, worker, evidence_digest), "WorkerSlashed")["amount"])

    def complete_job(self, job_id: int, result: bytes, model_hash: bytes, report: bytes, workers: list[str],
                     units: list[int], value: JobValuePayout | None = None) -> dict[str, int]:
        """Settles the job; returns what each listed worker was paid, in wei. `value` (root,
        value report digest, total) keeps that total of the data fee for the contributors'
        claims; without it the whole data fee is paid as dividends."""
        v = value or JobValuePayout(ZERO_DIGEST, ZERO_DIGEST, 0)
        receipt = self._send("completeJob", job_id, result, model_hash, report, workers, units,
                             v.root, v.report, v.total)
        return {str(e["args"]["worker"]): int(e["args"]["amount"]) for e in self._events(receipt, "WorkerPaid")}

    def claim_value(self, job_id: int, amount: int, proof: list[bytes]) -> int:
        """Claims the sender's value payout in the job; returns the wei paid."""
        return int(self._event(self._send("claimValue", job_id, amount, proof), "ValueClaimed")["amount"])

    def job_value(self, job_id: int) -> JobValueState:
        bps, prefix, unclaimed = self._call("jobValue", job_id)
        return JobValueState(int(bps), bytes(prefix), int(unclaimed))

    def value_claimed(self, job_id: int, account: str) -> bool:
        return bool(self._call("valueClaimed", job_id, account))

    def value_record(self, job_id: int, from_block: int = 0) -> dict[str, Any] | None:
        """The JobValued event of the job: its full root, the value report's cid, pool and
        dividends; None when the job was completed without valuation (or not yet)."""
        found = self.logs("JobValued", from_block, jobId=job_id)
        if not found:
            return None
        e = found[-1]
        return {"root": bytes(e["valueRoot"]), "report_cid": cid_from_digest(bytes(e["valueCid"])),
                "pool": int(e["valuePool"]), "dividends": int(e["dividends"])}

    def refund(self, job_id: int) -> int:
        """Returns both fees, credited to the buyer's pull balance."""
        return int(self._event(self._send("refund", job_id), "JobRefunded")["amount"])

    def withdraw(self) -> int:
        return int(self._event(self._send("withdraw"), "Withdrawal")["amount"])

    # ------------------------------------------------------------ events

    def logs(self, event: str, from_block: int, to_block: int | str = "latest", **filters: Any) -> list[Any]:
        """The args of every `event` in [from_block, to_block], optionally filtered on indexed fields."""
        kwargs: dict[str, Any] = {"from_block": from_block, "to_block": to_block}
        if filters:
            kwargs["argument_filters"] = filters
        return [log["args"] for log in getattr(self.contract.events, event)().get_logs(**kwargs)]

    def _events(self, receipt: Any, name: str) -> list[Any]:
        return list(getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD))
