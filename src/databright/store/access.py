"""Who may read which blob: rights held on-chain at the time of the read.

Why a policy object apart from the HTTP server: the rules are the product's privacy promise, so
they must be testable on their own (no sockets) and swappable (which accounts are coordinators is
a `CoordinatorRegistry`: by default the deployment's ComputeMarket, `ChainCoordinators`).
`AccessPolicy.check_read(address, cid)` answers with a `Decision` whose reason is shown to the
refused caller and written to the server log.

What `ChainAccessPolicy` allows, by what the blob is to the chain:

* a request's SPEC (its CID is the Database's specCid): any signed account, since contributors
  need it to validate their data before they hold any right;
* a request's VALIDATION set (the spec's `validation_cid`): curators and delegates with voting
  power in that request (token.getVotes > 0 now) and approved coordinators;
* DATA proposed to a request: its contributor (the proposer), curators and delegates with
  voting power there, approved coordinators;
* a vote's REPORT (a CID named as ``report <cid>`` in a VoteCast reason, as the oracle writes
  them): the same accounts as the data of the proposal voted on;
* a compute JOB's spec (the specCid of a JobPosted): its uploader (the buyer, normally) and
  approved coordinators — not whoever posts a job naming it, or naming a CID would be a way in;
* a completed job's RESULT and REPORT (JobCompleted): the job's buyer and approved coordinators;
* a job's VALUE REPORT (JobValued: what each contributor's data was worth to it, and paid): the
  job's buyer, approved coordinators, contributors of data to the job's dataset and curators and
  delegates with voting power there: everyone paid from, or paying, the job's data fee;
* anything else (uploaded, not referenced on-chain): its uploader only.

Whoever uploaded a blob may always read it back: they held its bytes already. Rights are unions:
a blob that is both data of one request and the spec of another is readable as a spec.

The chain is scanned through events (RequestCreated, ProposalCreated, VoteCast, JobPosted,
JobCompleted, JobValued) and only the blocks added since the last read are fetched, so a read costs one
block-number query plus, for data and validation blobs, a getVotes call per request (cached for
the current block) and, for coordinators, an isCoordinator call.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from web3 import Web3

from databright.chain.connection import Chain
from databright.chain.contracts import CuratorToken, ProposalKind
from databright.chain.deployment import load_deployment
from databright.cid import cid_from_digest
from databright.datasets.spec import DatasetSpec
from databright.errors import DataBrightError
from databright.market.client import Market
from databright.market.compute import ComputeClient
from databright.store.backend import canonical_cid, cid_digest
from databright.store.blobstore import BlobStore
from databright.store.uploads import UploadIndex

log = logging.getLogger("databright.store.access")
_REPORT = re.compile(r"\breport (b[a-z2-7]{58})\b")  # how the oracle names its report in a vote's reason
MAX_SPEC_BYTES = 1 << 20  # a spec is a small JSON document; anything bigger is not parsed


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


class AccessPolicy(Protocol):
    def check_read(self, address: str, cid: str) -> Decision:
        """Whether `address` (already authenticated) may read the blob named `cid`, and why."""
        ...


class CoordinatorRegistry(Protocol):
    """Who the compute market approved as a trusted coordinator."""

    def is_approved(self, address: str) -> bool: ...


class NoCoordinators:
    """Nobody is a coordinator (a deployment without a compute market)."""

    def is_approved(self, address: str) -> bool:
        return False


class StaticCoordinators:
    """A fixed set of coordinators, e.g. from the command line, until the chain lists them."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.addresses = {str(Web3.to_checksum_address(a)) for a in addresses}

    def is_approved(self, address: str) -> bool:
        return str(Web3.to_checksum_address(address)) in self.addresses


class ChainCoordinators:
    """The ComputeMarket's registry, asked at every read so that a revocation takes effect at once."""

    def __init__(self, compute: ComputeClient) -> None:
        self.compute = compute

    def is_approved(self, address: str) -> bool:
        return self.compute.is_coordinator(address)


@dataclass
class _Index:
    """What the chain says about CIDs (by digest), up to block `scanned_to`."""

    scanned_to: int
    tokens: dict[str, str] = field(default_factory=dict)  # database -> its CuratorToken
    specs: dict[bytes, list[str]] = field(default_factory=dict)  # spec digest -> databases
    data: dict[bytes, list[tuple[int, str, str]]] = field(default_factory=dict)  # -> (id, database, proposer)
    validation: dict[bytes, list[str]] = field(default_factory=dict)  # validation digest -> databases
    unread_specs: dict[str, bytes] = field(default_factory=dict)  # database -> spec digest not parsed yet
    proposals: dict[int, tuple[int, str, str]] = field(default_factory=dict)  # id -> (id, database, proposer)
    job_specs: dict[bytes, list[int]] = field(default_factory=dict)  # job spec digest -> job ids
    job_buyers: dict[int, str] = field(default_factory=dict)  # job id -> buyer
    job_outputs: dict[bytes, list[tuple[int, str]]] = field(default_factory=dict)  # result/report -> (job, kind)
    job_databases: dict[int, str] = field(default_factory=dict)  # job id -> database
    value_reports: dict[bytes, list[str]] = field(default_factory=dict)  # value report digest -> databases


class ChainAccessPolicy:
    """Read rights from the market contracts (see the module docstring); thread-safe."""

    def __init__(
        self,
        market_or_chain: Market | Chain,
        coordinators: CoordinatorRegistry | None = None,
        *,
        store: BlobStore,
        uploads: UploadIndex | None = None,
    ) -> None:
        """`store` is where the specs are read from (for their validation sets) and whose upload
        index names the uploaders."""
        if isinstance(market_or_chain, Market):
            self.market = market_or_chain
        else:
            self.market = Market(market_or_chain, load_deployment(market_or_chain))
        self.compute = ComputeClient(self.market.chain, self.market.deployment) \
            if self.market.deployment.compute_market else None
        if coordinators is None:
            coordinators = ChainCoordinators(self.compute) if self.compute is not None else NoCoordinators()
        self.coordinators: CoordinatorRegistry = coordinators
        self.store = store
        self.uploads = uploads if uploads is not None else UploadIndex(store.root)
        self._lock = threading.RLock()
        self._index = _Index(scanned_to=self.market.deployment.block - 1)
        self._tokens: dict[str, CuratorToken] = {}
        self._votes: dict[tuple[str, str], int] = {}
        self._votes_block = -1

    def check_read(self, address: str, cid: str) -> Decision:
        name, who = canonical_cid(cid), str(Web3.to_checksum_address(address))
        if self.uploads.is_uploader(name, who):
            return Decision(True, "uploader of this blob")
        digest = cid_digest(name)
        with self._lock:
            block = self._refresh()
            index = self._index
            if digest in index.specs:
                return Decision(True, f"spec of request {index.specs[digest][0]}: readable by any signed account")
            proposals, validated = index.data.get(digest, []), index.validation.get(digest, [])
            job_specs, outputs = index.job_specs.get(digest, []), index.job_outputs.get(digest, [])
            valued = index.value_reports.get(digest, [])
            if not proposals and not validated and not job_specs and not outputs:
                return Decision(False, "blob not referenced on-chain (no spec, validation set, data proposal or "
                                       "job): only its uploader may read it")
            for pid, _, proposer in proposals:
                if proposer == who:
                    return Decision(True, f"contributor: proposer of data proposal #{pid}")
            for job_id, kind in outputs:
                if index.job_buyers.get(job_id) == who:
                    return Decision(True, f"buyer of job #{job_id}: its {kind}")
            if self.coordinators.is_approved(who):
                return Decision(True, "approved coordinator")
            for _, db, proposer in index.proposals.values():
                if proposer == who and db in valued:
                    return Decision(True, f"contributor to request {db}: the value report of its job")
            databases = list(dict.fromkeys([db for _, db, _ in proposals] + validated + valued))
            for db in databases:
                if self._votes_of(db, who, block) > 0:
                    return Decision(True, f"voting power in request {db}")
        what = []
        if job_specs:
            what.append(f"the spec of job #{', #'.join(map(str, job_specs))} (readable by its uploader)")
        if outputs:
            what.extend(f"the {kind} of job #{job_id} (readable by its buyer)" for job_id, kind in outputs)
        if proposals:
            what.append(f"data proposed to request {', '.join(dict.fromkeys(db for _, db, _ in proposals))} "
                        "(readable by its contributor)")
        if validated:
            what.append(f"the validation set of request {', '.join(validated)}")
        if valued:
            what.append(f"a value report of request {', '.join(valued)} (readable by its contributors)")
        if not proposals and not validated and not valued:
            return Decision(False, f"{who} may not read this blob: it is {' and '.join(what)}; approved "
                                   f"coordinators may read it too, and {who} is none of these")
        return Decision(False, f"{who} may not read this blob: it is {' and '.join(what)}; curators and delegates "
                               "with voting power in that request and approved coordinators may read it, and "
                               f"{who} has no voting power there now")

    # -- the chain index ---------------------------------------------------------------------------

    def _refresh(self) -> int:
        """Scans the blocks mined since the last call; returns the current block number."""
        chain, index = self.market.chain, self._index
        block = int(chain.w3.eth.block_number)
        if block > index.scanned_to:
            events: Any = self.market.association.contract.events
            span = {"from_block": index.scanned_to + 1, "to_block": block}
            for log_entry in events.RequestCreated().get_logs(**span):
                args = log_entry["args"]
                database = str(args["database"])
                index.tokens[database] = str(args["token"])
                index.specs.setdefault(bytes(args["specCid"]), []).append(database)
                index.unread_specs[database] = bytes(args["specCid"])
            for log_entry in events.ProposalCreated().get_logs(**span):
                args = log_entry["args"]
                if int(args["kind"]) == ProposalKind.DATA:
                    entry = (int(args["proposalId"]), str(args["database"]), str(args["proposer"]))
                    index.data.setdefault(bytes(args["body"]), []).append(entry)
                    index.proposals[entry[0]] = entry
            for log_entry in events.VoteCast().get_logs(**span):
                args = log_entry["args"]
                found = _REPORT.search(str(args["reason"]))
                voted = index.proposals.get(int(args["proposalId"]))
                if found and voted:
                    with contextlib.suppress(DataBrightError):  # a malformed CID in a free-text reason
                        index.data.setdefault(cid_digest(found.group(1)), []).append(voted)
            if self.compute is not None:
                self._scan_jobs(span["from_block"], block)
            index.scanned_to = block
        if index.unread_specs:
            self._read_specs()
        return block

    def _scan_jobs(self, from_block: int, to_block: int) -> None:
        """Learns job specs, buyers and the results and reports of completed jobs."""
        assert self.compute is not None
        index, market = self._index, self.compute.market
        for args in market.logs("JobPosted", from_block, to_block):
            job_id = int(args["jobId"])
            index.job_buyers[job_id] = str(args["buyer"])
            index.job_databases[job_id] = str(args["database"])
            index.job_specs.setdefault(bytes(args["specCid"]), []).append(job_id)
        for args in market.logs("JobCompleted", from_block, to_block):
            job_id = int(args["jobId"])
            index.job_outputs.setdefault(bytes(args["resultCid"]), []).append((job_id, "result"))
            index.job_outputs.setdefault(bytes(args["reportCid"]), []).append((job_id, "report"))
        for args in market.logs("JobValued", from_block, to_block):
            job_id = int(args["jobId"])
            index.job_outputs.setdefault(bytes(args["valueCid"]), []).append((job_id, "value report"))
            database = index.job_databases.get(job_id)
            if database is not None:  # posted before this policy's first block: no right beyond the buyer's
                index.value_reports.setdefault(bytes(args["valueCid"]), []).append(database)

    def _read_specs(self) -> None:
        """Learns the validation sets of specs that have reached the store since the last call."""
        for database, digest in list(self._index.unread_specs.items()):
            cid = cid_from_digest(digest)
            if not self.store.exists(cid):
                continue  # uploaded later, or to another store: try again at the next read
            del self._index.unread_specs[database]
            try:
                if self.store.size(cid) > MAX_SPEC_BYTES:
                    raise DataBrightError(f"{self.store.size(cid)} bytes is too big for a spec")
                spec = DatasetSpec.from_bytes(self.store.get_bytes(cid), source=f"spec {cid}")
                if spec.validation_cid is not None:
                    self._index.validation.setdefault(cid_digest(spec.validation_cid), []).append(database)
            except DataBrightError as exc:
                log.warning("request %s: spec %s gives no validation set: %s", database, cid, exc)

    def _votes_of(self, database: str, who: str, block: int) -> int:
        """token.getVotes(who) in `database`, asked once per block."""
        if block != self._votes_block:
            self._votes, self._votes_block = {}, block
        key = (database, who)
        if key not in self._votes:
            if database not in self._tokens:
                self._tokens[database] = CuratorToken(self.market.chain, self._index.tokens[database])
            self._votes[key] = self._tokens[database].votes(who)
        return self._votes[key]
