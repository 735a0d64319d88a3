"""What every page reads through: the market, the store reader, one lock, and the parsing of paths.

Why one lock: a page is a few dozen contract calls, and the embedded chain (eth-tester) is not
safe to use from several threads at once; serialising the pages costs nothing a person notices
and keeps the numbers on one page from one chain state when blocks are mined meanwhile, since
each page also reads the block number it shows under the same lock.

Paths name things as people do (a request by index or database address, a job or a proposal by
id); a malformed one is `BadInput` (400) and one the chain does not hold is `NotFound` (404),
decided here before any contract is asked, so the message says what was wrong in the visitor's
own terms.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from web3 import Web3

from databright.chain.compute_market import Job
from databright.chain.contracts import Database, Proposal, ProposalKind
from databright.cid import cid_from_digest
from databright.dashboard.blobs import BlobReader
from databright.dashboard.errors import BadInput, NotFound
from databright.market import Market
from databright.market.compute import ComputeClient


class Dashboard:
    """The market as the dashboard reads it: `market` acts as the reading account, `blobs` signs as it.

    `store_url` is where visitors' own signed reads are relayed (`relay`); by default the store
    `blobs` reads from, and None when there is none.
    """

    def __init__(self, market: Market, blobs: BlobReader, poll_seconds: float = 2.0,
                 store_url: str | None = None) -> None:
        self.market = market
        self.blobs = blobs
        self.poll_seconds = poll_seconds
        self.store_url = store_url or (blobs.store.url if blobs.store is not None else None)
        self.lock = threading.RLock()

    @property
    def compute(self) -> ComputeClient:
        return self.market.compute

    def block(self) -> int:
        return int(self.market.chain.w3.eth.block_number)

    def head(self) -> dict[str, Any]:
        """What the pages poll to learn that the chain moved (cheap: one call)."""
        return {"block": self.block(), "chain_id": self.market.deployment.chain_id}

    # ------------------------------------------------------------ parsing what a visitor typed

    def request_ref(self, ref: str) -> str:
        """A request by index (``0``) or database address → its database address."""
        requests = self.market.association.requests()
        if ref.isdigit():
            i = int(ref)
            if i >= len(requests):
                raise NotFound(f"no request #{i}: {_there(len(requests))}")
            return requests[i]
        if not Web3.is_address(ref):
            raise BadInput(f"a request is named by its index or its database address (0x and 40 hex digits), "
                           f"not {ref!r}")
        address = str(Web3.to_checksum_address(ref))
        if address not in requests:
            raise NotFound(f"{address} is not a request of this market")
        return address

    def proposal_id(self, ref: str) -> int:
        pid = _positive(ref, "a proposal id")
        count = self.market.association.proposal_count()
        if pid > count:
            raise NotFound(f"no proposal #{pid}: {_there(count)}")
        return pid

    def job_id(self, ref: str) -> int:
        jid = _positive(ref, "a job id")
        count = self.compute.job_count()
        if jid > count:
            raise NotFound(f"no job #{jid}: {_there(count)}")
        return jid

    # ------------------------------------------------------------ rows shared by several pages

    def request_names(self) -> dict[str, dict[str, Any]]:
        """database → {index, name}: how pages name a request next to its address."""
        association = self.market.association
        out: dict[str, dict[str, Any]] = {}
        for i, database in enumerate(association.requests()):
            out[database] = {"index": i, "name": Database(self.market.chain, database).name()}
        return out

    def proposal_row(self, p: Proposal, names: dict[str, dict[str, Any]]) -> dict[str, Any]:
        request = names.get(p.database, {})
        return {
            "id": p.id, "database": p.database, "request_index": request.get("index"),
            "request_name": request.get("name"), "kind": p.kind.name.lower(), "proposer": p.proposer,
            "cid": cid_from_digest(p.body) if p.kind is ProposalKind.DATA else None,
            "samples": p.samples, "shares": p.shares, "votes_for": p.votes_for, "votes_against": p.votes_against,
            "state": p.state.name.lower(), "snapshot": p.snapshot, "deadline": p.deadline,
        }

    def job_row(self, j: Job, names: dict[str, dict[str, Any]]) -> dict[str, Any]:
        request = names.get(j.database, {})
        return {
            "id": j.id, "state": j.state.name.lower(), "buyer": j.buyer, "database": j.database,
            "request_index": request.get("index"), "request_name": request.get("name"),
            "data_fee_wei": j.data_fee, "compute_fee_wei": j.compute_fee, "deadline": j.deadline,
            "deadline_utc": utc(j.deadline), "coordinator": j.coordinator, "workers": list(j.workers),
            "total_units": j.total_units, "spec_cid": j.spec_cid, "report_cid": j.report_cid,
            "result_cid": j.result_cid, "model_hash": j.model_hash,
        }


def _there(count: int) -> str:
    return "there is 1" if count == 1 else f"there are {count}"


def _positive(ref: str, what: str) -> int:
    if not ref.isdigit() or int(ref) < 1:
        raise BadInput(f"{what} is a whole number from 1, not {ref!r}")
    return int(ref)


def utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def by_state(states: list[str], names: tuple[str, ...]) -> dict[str, int]:
    """Counts per state, every known state present (0 when none), so tables keep their columns."""
    return {name: states.count(name) for name in names}
