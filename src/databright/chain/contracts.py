"""Typed wrappers of the three contracts: Python values in, Python values out.

They speak the contracts' own units (wei, share base units, 32-byte digests); the market
layer above turns those into what people type (CID text, whole shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from web3.logs import DISCARD

from databright.chain.artifacts import load_artifacts
from databright.chain.connection import Chain
from databright.errors import ChainError


class ProposalState(IntEnum):
    ACTIVE = 1
    DEFEATED = 2
    SUCCEEDED = 3
    EXECUTED = 4


class ProposalKind(IntEnum):
    DATA = 1
    RULES = 2


@dataclass(frozen=True)
class Rules:
    """A request's rules; bps are parts of 10,000, the period is in blocks. value_share_bps is
    the part of every compute job's data fee paid to contributors by the measured value of their
    data in that job (the rest is pro-rata dividends); half by default."""

    quorum_bps: int
    approval_bps: int
    voting_period: int
    max_shares: int
    value_share_bps: int = 5000

    def as_args(self) -> tuple[int, int, int, int, int]:
        return (self.quorum_bps, self.approval_bps, self.voting_period, self.max_shares, self.value_share_bps)


@dataclass(frozen=True)
class Proposal:
    id: int
    database: str
    kind: ProposalKind
    proposer: str
    body: bytes
    samples: int
    shares: int
    snapshot: int
    deadline: int
    votes_against: int
    votes_for: int
    state: ProposalState

    def new_rules(self) -> Rules | None:
        """The rules a rules proposal would set (packed into its body on-chain)."""
        if self.kind is not ProposalKind.RULES:
            return None
        r = int.from_bytes(self.body, "big")
        return Rules(r & 0xFFFF, (r >> 16) & 0xFFFF, (r >> 32) & 0xFFFFFFFF, (r >> 64) & (2**96 - 1), r >> 160)


@dataclass(frozen=True)
class Vote:
    voter: str
    proposal_id: int
    support: bool
    weight: int
    reason: str


@dataclass(frozen=True)
class Entry:
    index: int
    cid_digest: bytes
    contributor: str
    samples: int
    shares: int
    proposal_id: int
    block: int


class _Wrapper:
    def __init__(self, chain: Chain, name: str, address: str) -> None:
        self.chain = chain
        self.address = chain.w3.to_checksum_address(address)
        self.contract: Any = chain.w3.eth.contract(address=self.address, abi=load_artifacts()[name].abi)

    def _call(self, fn: str, *args: Any) -> Any:
        return self.chain.call(getattr(self.contract.functions, fn)(*args))

    def _send(self, fn: str, *args: Any, value: int = 0) -> Any:
        return self.chain.send(getattr(self.contract.functions, fn)(*args), value=value)

    def _event(self, receipt: Any, name: str) -> Any:
        events = getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise ChainError(f"{name} event missing from transaction receipt")
        return events[0]["args"]


class CuratorToken(_Wrapper):
    def __init__(self, chain: Chain, address: str) -> None:
        super().__init__(chain, "CuratorToken", address)

    def name(self) -> str:
        return str(self._call("name"))

    def symbol(self) -> str:
        return str(self._call("symbol"))

    def total_supply(self) -> int:
        return int(self._call("totalSupply"))

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", account))

    def votes(self, account: str) -> int:
        return int(self._call("getVotes", account))

    def past_votes(self, account: str, block: int) -> int:
        return int(self._call("getPastVotes", account, block))

    def delegate_of(self, account: str) -> str:
        return str(self._call("delegates", account))

    def withdrawable(self, account: str) -> int:
        return int(self._call("withdrawableDividendOf", account))

    def withdrawn(self, account: str) -> int:
        return int(self._call("withdrawnDividendOf", account))

    def accumulated(self, account: str) -> int:
        return int(self._call("accumulativeDividendOf", account))

    def total_distributed(self) -> int:
        return int(self._call("totalDistributed"))

    def delegate(self, to: str) -> None:
        self._send("delegate", to)

    def transfer(self, to: str, amount: int) -> None:
        self._send("transfer", to, amount)

    def distribute(self, wei: int) -> None:
        self._send("distribute", value=wei)

    def withdraw_dividend(self) -> int:
        receipt = self._send("withdrawDividend")
        return int(self._event(receipt, "DividendWithdrawn")["weiAmount"])

    def holders(self) -> list[str]:
        """Every account that ever received shares, from the Transfer events."""
        logs = self.contract.events.Transfer().get_logs(from_block=0)
        seen: dict[str, None] = {}
        for log in logs:
            seen.setdefault(str(log["args"]["receiver"]), None)
        return list(seen)


class Database(_Wrapper):
    def __init__(self, chain: Chain, address: str) -> None:
        super().__init__(chain, "Database", address)

    def name(self) -> str:
        return str(self._call("name"))

    def spec_digest(self) -> bytes:
        return bytes(self._call("specCid"))

    def token(self) -> str:
        return str(self._call("token"))

    def entry_count(self) -> int:
        return int(self._call("entryCount"))

    def entry(self, i: int) -> Entry:
        cid, contributor, samples, shares, pid, block = self._call("entry", i)
        return Entry(i, bytes(cid), str(contributor), int(samples), int(shares), int(pid), int(block))

    def entries(self) -> list[Entry]:
        return [self.entry(i) for i in range(self.entry_count())]


class DataAssociation(_Wrapper):
    def __init__(self, chain: Chain, address: str) -> None:
        super().__init__(chain, "DataAssociation", address)

    def with_chain(self, chain: Chain) -> DataAssociation:
        return DataAssociation(chain, self.address)

    def create_request(self, name: str, symbol: str, spec_digest: bytes, curators: list[str],
                       shares: list[int], rules: Rules) -> tuple[str, str]:
        """Opens a request; returns (database, token)."""
        receipt = self._send("createRequest", name, symbol, spec_digest, curators, shares, *rules.as_args())
        args = self._event(receipt, "RequestCreated")
        return str(args["database"]), str(args["token"])

    def propose(self, database: str, cid_digest: bytes, samples: int, shares: int) -> int:
        receipt = self._send("propose", database, cid_digest, samples, shares)
        return int(self._event(receipt, "ProposalCreated")["proposalId"])

    def propose_rules(self, database: str, rules: Rules) -> int:
        receipt = self._send("proposeRules", database, *rules.as_args())
        return int(self._event(receipt, "ProposalCreated")["proposalId"])

    def cast_vote(self, proposal_id: int, support: bool, reason: str = "") -> int:
        receipt = self._send("castVoteWithReason", proposal_id, 1 if support else 0, reason)
        return int(self._event(receipt, "VoteCast")["weight"])

    def execute(self, proposal_id: int) -> None:
        self._send("execute", proposal_id)

    def state(self, proposal_id: int) -> ProposalState:
        return ProposalState(self._call("state", proposal_id))

    def has_voted(self, proposal_id: int, account: str) -> bool:
        return bool(self._call("hasVoted", proposal_id, account))

    def rules(self, database: str) -> Rules:
        return Rules(*(int(x) for x in self._call("rules", database)))

    def token_of(self, database: str) -> str:
        return str(self._call("tokenOf", database))

    def requests(self) -> list[str]:
        return [str(self._call("requestAt", i)) for i in range(int(self._call("requestCount")))]

    def proposal_count(self) -> int:
        return int(self._call("proposalCount"))

    def proposal(self, proposal_id: int) -> Proposal:
        database, kind, proposer, body, samples, shares = self._call("proposal", proposal_id)
        against, votes_for = self._call("proposalVotes", proposal_id)
        return Proposal(
            id=proposal_id, database=str(database), kind=ProposalKind(kind), proposer=str(proposer),
            body=bytes(body), samples=int(samples), shares=int(shares),
            snapshot=int(self._call("proposalSnapshot", proposal_id)),
            deadline=int(self._call("proposalDeadline", proposal_id)),
            votes_against=int(against), votes_for=int(votes_for), state=self.state(proposal_id),
        )

    def votes(self, proposal_id: int) -> list[Vote]:
        logs = self.contract.events.VoteCast().get_logs(
            from_block=0, argument_filters={"proposalId": proposal_id}
        )
        return [
            Vote(str(a["voter"]), int(a["proposalId"]), a["support"] == 1, int(a["weight"]), str(a["reason"]))
            for a in (log["args"] for log in logs)
        ]
