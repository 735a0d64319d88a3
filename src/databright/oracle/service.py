"""The oracle service: follows proposals, judges each once, votes with its delegated power.

Restart safety comes from a small state file (written atomically after every decision) that
lists the proposals already decided, plus the chain's own `hasVoted`, checked before every
vote, so even a lost state file never leads to a second vote. A proposal whose voting period
has ended is skipped. Trouble with one proposal (unreadable data, a refused read) is logged
and retried on the next round; trouble with the chain or store as a whole makes `run` back
off and retry rather than exit.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from databright.chain.contracts import ProposalKind, ProposalState
from databright.cid import cid_from_digest
from databright.datasets import CanonicalDataset, DatasetError, DatasetSpec, load_canonical
from databright.market import Market
from databright.market.data import request_spec
from databright.oracle.assess import Assessment, FairSharePolicy, assess
from databright.rounds import run_rounds
from databright.store.client import StoreClient
from databright.store.errors import StoreError, StoreUnavailable

log = logging.getLogger("databright.oracle")


@dataclass(frozen=True)
class OracleVote:
    proposal_id: int
    support: bool
    weight: int
    reason: str
    report_cid: str


class Oracle:
    def __init__(self, market: Market, store: StoreClient, databases: list[str], state_path: Path,
                 policy: FairSharePolicy | None = None) -> None:
        self.market, self.store, self.databases = market, store, set(databases)
        self.policy = policy or FairSharePolicy()
        self.state_path = state_path
        self.decided: dict[int, str] = {}
        if state_path.exists():
            self.decided = {int(k): v for k, v in json.loads(state_path.read_text())["decided"].items()}
        self._blobs: dict[str, CanonicalDataset] = {}
        self._specs: dict[str, DatasetSpec] = {}

    def _decide(self, pid: int, outcome: str) -> None:
        self.decided[pid] = outcome
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"decided": self.decided, "block": int(self.market.chain.w3.eth.block_number)}))
        tmp.replace(self.state_path)

    def run_once(self) -> list[OracleVote]:
        """Decides every open proposal of the served requests not decided yet."""
        votes = []
        for pid in range(1, self.market.association.proposal_count() + 1):
            if pid in self.decided:
                continue
            try:
                vote = self._handle(pid)
            except StoreUnavailable:
                raise  # the store as a whole: `run` backs off
            except (DatasetError, StoreError) as exc:  # this proposal only: try again next round
                log.warning("proposal %d: %s (will retry)", pid, exc)
                continue
            if vote is not None:
                votes.append(vote)
        return votes

    def _handle(self, pid: int) -> OracleVote | None:
        me = self.market.account
        p = self.market.proposal(pid)
        if p.database not in self.databases or p.kind is not ProposalKind.DATA:
            self._decide(pid, "not served")
            return None
        if p.state is not ProposalState.ACTIVE:
            self._decide(pid, f"skipped: voting over ({p.state.name.lower()})")
            return None
        if self.market.association.has_voted(pid, me):
            self._decide(pid, "already voted")
            return None
        power = self.market.token(p.database).past_votes(me, p.snapshot)
        if power == 0:
            self._decide(pid, "skipped: no power delegated at the snapshot")
            log.info("proposal %d: no voting power delegated to the oracle at block %d", pid, p.snapshot)
            return None
        cid = cid_from_digest(p.body)
        result = self._assess(p.database, cid, p.shares)
        report_cid = self.store.upload_bytes(json.dumps({"proposal": pid, "cid": cid, **result.report()},
                                                        sort_keys=True).encode())
        reason = f"oracle {result.reason} | report {report_cid}"
        weight = self.market.vote(pid, result.support, reason[:512])
        self._decide(pid, reason)
        log.info("proposal %d: voted %s with %d: %s", pid, "yes" if result.support else "no", weight, reason)
        return OracleVote(pid, result.support, weight, reason, report_cid)

    def _assess(self, database: str, cid: str, shares: int) -> Assessment:
        spec = self._spec(database)
        if not spec.validation_cid:
            raise DatasetError(database, "the request has no validation set to value data against")
        accepted = [self._data(cid_from_digest(e.cid_digest)) for e in self.market.entries(database)]
        return assess(self._data(cid), shares, spec, self._data(spec.validation_cid), accepted, self.policy)

    def _spec(self, database: str) -> DatasetSpec:
        if database not in self._specs:
            self._specs[database] = request_spec(self.market, self.store, database)
        return self._specs[database]

    def _data(self, cid: str) -> CanonicalDataset:
        if cid not in self._blobs:
            self._blobs[cid] = load_canonical(self.store.get_bytes(cid), source=cid)
        return self._blobs[cid]

    def run(self, poll: float = 2.0, should_stop: Callable[[], bool] = lambda: False,
            sleep: Callable[[float], None] = time.sleep) -> None:
        """Rounds until `should_stop`; an unreachable chain or store means wait and retry, doubling to 60 s."""
        run_rounds(self.run_once, log, poll, should_stop, sleep)
