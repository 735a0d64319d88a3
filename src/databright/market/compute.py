"""The compute market as its users see it: workers, coordinators, jobs, payouts.

`ComputeClient` is what the coordinator, the workers, the CLI and the demo call. It takes what
people and services hold (checksummed address strings, CID text, wei, unix seconds), checks it
before anything is sent — a malformed address is a ConfigError, a negative fee or a deadline
already past a ComputeError, so a user mistake never costs gas nor reads like a chain fault —
and leaves the chain's own rules (who may accept, slash, settle; when a refund is due) to the
contract, whose refusals arrive as ComputeRevert with its reason.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from web3 import Web3

from databright.chain.compute_market import (
    ZERO_DIGEST,
    ComputeMarket,
    CoordinatorInfo,
    Job,
    JobState,
    JobValuePayout,
    JobValueState,
    WorkerInfo,
)
from databright.chain.connection import Chain
from databright.chain.deployment import Deployment
from databright.chain.merkle import ValueTree
from databright.cid import cid_from_digest, digest_from_cid
from databright.compute.errors import AttestationError, ComputeError
from databright.errors import CidError, ConfigError

MAX_JOB_WORKERS = 128  # the contract's bound on the workers of one job


MAX_ENDPOINT = 256  # the contract's bound on an endpoint's length, in bytes


class CoordinatorEndpoint(NamedTuple):
    """Where an approved coordinator's workers dial it, and the SHA-256 (hex) of its TLS certificate."""

    coordinator: str
    url: str
    cert_sha256: str


class Slash(NamedTuple):
    """A WorkerSlashed event: `amount` wei of `worker`'s stake went to the job's buyer."""

    job_id: int
    worker: str
    amount: int
    evidence_cid: str


def _address(value: str, what: str) -> str:
    if not isinstance(value, str) or not Web3.is_address(value):
        raise ConfigError(f"{what} must be an address (0x and 40 hex digits), not {value!r}")
    return str(Web3.to_checksum_address(value))


def _wei(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ComputeError(f"{what} must be a whole number of wei, not {value!r}")
    if value < 0:
        raise ComputeError(f"{what} must not be negative, got {value} wei")
    return value


def _job_id(job_id: int) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
        raise ComputeError(f"job ids are whole numbers from 1, not {job_id!r}")
    return job_id


def _digest(cid: str, what: str) -> bytes:
    try:
        return digest_from_cid(cid)
    except CidError as exc:
        raise CidError(f"{what}: {exc}") from exc


class ComputeClient:
    """One account's view of the deployment's ComputeMarket; `as_account` gives another's."""

    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        if not deployment.compute_market:
            raise ConfigError("this deployment has no compute market: run `databright deploy` to redeploy")
        self.chain = chain
        self.deployment = deployment
        self.market = ComputeMarket(chain, deployment.compute_market)
        self._min_stake: int | None = None

    @property
    def address(self) -> str:
        """The ComputeMarket contract's address."""
        return self.market.address

    @property
    def account(self) -> str:
        return self.chain.account

    @property
    def min_stake(self) -> int:
        """Least stake (wei) a new worker must lock; fixed at deployment, so asked once."""
        if self._min_stake is None:
            self._min_stake = self.market.min_stake()
        return self._min_stake

    def as_account(self, account: str | int) -> ComputeClient:
        return ComputeClient(self.chain.with_account(account), self.deployment)

    def governance(self) -> str:
        """The account that approves and revokes coordinators (the deployer, unless handed on)."""
        return self.market.governance()

    # ------------------------------------------------------------ workers

    def register_worker(self, stake_wei: int) -> WorkerInfo:
        """Registers this account as a worker with `stake_wei`, or adds it to a registered worker's stake."""
        stake = _wei(stake_wei, "the stake")
        if stake == 0:
            raise ComputeError("a stake must be more than 0 wei")
        if not self.worker().registered and stake < self.min_stake:
            raise ComputeError(f"a new worker stakes at least the minimum of {self.min_stake} wei; "
                               f"{stake} wei offered")
        self.market.register_worker(stake)
        return self.worker()

    def leave(self) -> int:
        """Deregisters this worker; its stake (returned, in wei) becomes withdrawable."""
        return self.market.leave()

    def worker(self, addr: str | None = None) -> WorkerInfo:
        return self.market.worker(_address(addr or self.account, "the worker"))

    def workers(self) -> list[WorkerInfo]:
        """Everyone who ever registered (WorkerRegistered events), with their state now."""
        seen = dict.fromkeys(str(a["worker"]) for a in self.market.logs("WorkerRegistered", self.deployment.block))
        return [self.market.worker(a) for a in seen]

    def earnings(self, addr: str | None = None) -> int:
        """Wei ever paid to a worker for verified work (WorkerPaid events), withdrawn or not."""
        who = _address(addr or self.account, "the worker")
        return sum(int(a["amount"]) for a in self.market.logs("WorkerPaid", self.deployment.block, worker=who))

    # ------------------------------------------------------------ coordinators

    def approve_coordinator(self, account: str, signing_key: str, quote_hash: bytes) -> CoordinatorInfo:
        """Governance approves `account`, whose results are signed by `signing_key`, for the attestation
        quote whose hash is `quote_hash` (see databright.compute.attestation for the verification)."""
        who = _address(account, "the coordinator")
        key = _address(signing_key, "the signing key")
        if not isinstance(quote_hash, bytes) or len(quote_hash) != 32:
            raise AttestationError(f"a quote hash is 32 bytes (a sha256), not {quote_hash!r}")
        self.market.approve_coordinator(who, key, quote_hash)
        return self.coordinator(who)

    def revoke_coordinator(self, account: str) -> None:
        self.market.revoke_coordinator(_address(account, "the coordinator"))

    def coordinator(self, addr: str) -> CoordinatorInfo:
        return self.market.coordinator(_address(addr, "the coordinator"))

    def is_coordinator(self, addr: str) -> bool:
        return self.market.is_coordinator(_address(addr, "the coordinator"))

    def set_coordinator_endpoint(self, url: str, cert_sha256: str) -> None:
        """The acting (approved) coordinator publishes its gRPC endpoint (host:port) and the SHA-256
        (hex) of its TLS certificate, which its workers pin."""
        host, _, port = url.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536 or len(url.encode()) > MAX_ENDPOINT:
            raise ConfigError(f"a coordinator endpoint is host:port (at most {MAX_ENDPOINT} bytes), not {url!r}")
        try:
            digest = bytes.fromhex(cert_sha256.removeprefix("0x"))
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ConfigError(f"a certificate hash is a SHA-256 (64 hex digits), not {cert_sha256!r}")
        self.market.set_coordinator_endpoint(url, digest)

    def coordinator_endpoint(self, addr: str) -> CoordinatorEndpoint | None:
        """Where the coordinator `addr` takes workers, if it is approved and published one."""
        who = _address(addr, "the coordinator")
        url, cert = self.market.coordinator_endpoint(who)
        if not url or not self.market.is_coordinator(who):
            return None
        return CoordinatorEndpoint(who, url, cert.hex())

    def coordinator_endpoints(self) -> list[CoordinatorEndpoint]:
        """Every approved coordinator with a published endpoint (from CoordinatorEndpointSet events)."""
        seen = dict.fromkeys(str(a["account"]) for a in self.market.logs("CoordinatorEndpointSet",
                                                                            self.deployment.block))
        return [e for e in (self.coordinator_endpoint(a) for a in seen) if e is not None]

    # ------------------------------------------------------------ jobs

    def post_job(self, database: str, spec_cid: str, data_fee: int, compute_fee: int, deadline: int) -> int:
        """Escrows `data_fee + compute_fee` for a job on `database`; returns the job id.

        The data fee goes to the dataset's shareholders, the compute fee to the workers by
        verified units; both come back if the job is not completed by `deadline` (unix seconds).
        """
        db = _address(database, "the dataset (its database address)")
        digest = _digest(spec_cid, "the job spec")
        data, compute = _wei(data_fee, "the data fee"), _wei(compute_fee, "the compute fee")
        if data + compute == 0:
            raise ComputeError("a job must pay something: both the data fee and the compute fee are 0")
        if isinstance(deadline, bool) or not isinstance(deadline, int):
            raise ComputeError(f"the deadline is unix seconds, not {deadline!r}")
        now = self.chain.now()
        if deadline <= now:
            raise ComputeError(f"the deadline {deadline} is not in the future: the chain's clock says {now}")
        return self.market.post_job(db, digest, data, deadline, value=data + compute)

    def accept_job(self, job_id: int) -> None:
        self.market.accept_job(_job_id(job_id))

    def assign_workers(self, job_id: int, workers: list[str]) -> None:
        found = [_address(w, "a worker") for w in workers]
        if not found:
            raise ComputeError("assign at least one worker")
        if len(set(found)) != len(found):
            raise ComputeError(f"a worker is listed twice: {sorted(w for w in found if found.count(w) > 1)[0]}")
        if len(found) > MAX_JOB_WORKERS:
            raise ComputeError(f"a job has at most {MAX_JOB_WORKERS} workers, not {len(found)}")
        self.market.assign_workers(_job_id(job_id), found)

    def slash(self, job_id: int, worker: str, evidence_cid: str) -> int:
        """Takes an assigned worker's whole stake (returned, in wei) for the job's buyer."""
        return self.market.slash(_job_id(job_id), _address(worker, "the worker"), _digest(evidence_cid, "the evidence"))

    def complete_job(self, job_id: int, result_cid: str, model_hash: bytes, report_cid: str,
                     units: dict[str, int], value_cid: str | None = None,
                     payouts: dict[str, int] | None = None) -> dict[str, int]:
        """Settles a job with each worker's verified units; returns what each was paid, in wei.
        With `value_cid` (the stored value report) the contributors' value `payouts` (wei, by
        address; zero ones are left out of the tree) are kept for their claims."""
        jid = _job_id(job_id)
        result, report = _digest(result_cid, "the result"), _digest(report_cid, "the report")
        if not isinstance(model_hash, bytes) or len(model_hash) != 32:
            raise ComputeError(f"the model hash is 32 bytes (a sha256 digest), not {model_hash!r}")
        if not units:
            raise ComputeError("completing a job needs the verified units of at least one worker")
        workers: dict[str, int] = {}
        for addr, n in units.items():
            who = _address(addr, "a worker")
            if who in workers:
                raise ComputeError(f"{who} is listed twice in the units")
            workers[who] = _wei(n, f"the units of {who}")
        value = None
        if value_cid is not None:
            paying = {_address(a, "a contributor"): _wei(v, f"the value payout of {a}")
                      for a, v in (payouts or {}).items()}
            paying = {a: v for a, v in paying.items() if v > 0}
            root = ValueTree.of(list(paying.items())).root if paying else ZERO_DIGEST
            value = JobValuePayout(root, _digest(value_cid, "the value report"), sum(paying.values()))
        return self.market.complete_job(jid, result, model_hash, report, list(workers), list(workers.values()), value)

    def claim_value(self, job_id: int, amount: int, proof: list[bytes]) -> int:
        """Claims this account's value payout in a job (once); returns the wei sent to it."""
        return self.market.claim_value(_job_id(job_id), _wei(amount, "the claimed amount"), proof)

    def job_value(self, job_id: int) -> JobValueState:
        return self.market.job_value(_job_id(job_id))

    def value_record(self, job_id: int) -> dict[str, Any] | None:
        """The job's JobValued event (root, value report CID, pool, dividends), or None."""
        return self.market.value_record(_job_id(job_id), self.deployment.block)

    def value_claimed(self, job_id: int, addr: str | None = None) -> bool:
        return self.market.value_claimed(_job_id(job_id), _address(addr or self.account, "the account"))

    def refund(self, job_id: int) -> int:
        """Returns an expired, unsettled job's fees to its buyer's pull balance; returns the wei."""
        return self.market.refund(_job_id(job_id))

    def withdraw(self) -> int:
        """Sends this account its whole pull balance (payouts, refunds, stakes); returns the wei."""
        return self.market.withdraw()

    def balance(self, addr: str | None = None) -> int:
        """Wei the account may withdraw from the compute market now."""
        return self.market.balance_of(_address(addr or self.account, "the account"))

    def job_count(self) -> int:
        return self.market.job_count()

    def job(self, job_id: int) -> Job:
        jid, count = _job_id(job_id), self.job_count()
        if jid > count:
            raise ComputeError(f"no job #{jid}: there are {count}")
        return self.market.job(jid)

    def jobs(self, buyer: str | None = None, state: JobState | None = None) -> list[Job]:
        """Every job, or a buyer's (found by the indexed JobPosted events), optionally in one state."""
        if buyer is None:
            ids = list(range(1, self.job_count() + 1))
        else:
            who = _address(buyer, "the buyer")
            ids = [int(a["jobId"]) for a in self.market.logs("JobPosted", self.deployment.block, buyer=who)]
        found = [self.market.job(i) for i in ids]
        return [j for j in found if state is None or j.state is state]

    def units_of(self, job_id: int, worker: str) -> int:
        return self.market.units_of(_job_id(job_id), _address(worker, "the worker"))

    def posted_since(self, from_block: int) -> tuple[list[int], int]:
        """Ids of the jobs posted in blocks [from_block, latest], and latest: the next call starts at latest + 1."""
        latest = int(self.chain.w3.eth.block_number)
        if from_block > latest:
            return [], latest
        logs = self.market.logs("JobPosted", max(from_block, 0), latest)
        return [int(a["jobId"]) for a in logs], latest

    def slashes(self, job_id: int | None = None) -> list[Slash]:
        filters = {} if job_id is None else {"jobId": _job_id(job_id)}
        return [
            Slash(int(a["jobId"]), str(a["worker"]), int(a["amount"]), cid_from_digest(bytes(a["evidenceCid"])))
            for a in self.market.logs("WorkerSlashed", self.deployment.block, **filters)
        ]

    def payouts(self, job_id: int) -> dict[str, int]:
        """What each worker was paid for the job (empty until it completes), in wei."""
        logs = self.market.logs("WorkerPaid", self.deployment.block, jobId=_job_id(job_id))
        return {str(a["worker"]): int(a["amount"]) for a in logs}
