"""The data-market part of the demo, on the bundled scikit-learn digits.

Roles are the chain's funded dev accounts: an initiator, three bootstrap curators, four
contributors. Each contributor's slice of the digits is serialised canonically and named by
its CID (the encrypted store that will hold these bytes arrives with the next part of the
product). What the demo shows is what the contracts did: every number printed is read back
from the chain, not computed on the side.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits

from databright.chain.contracts import ProposalState, Rules
from databright.cid import cid_for_bytes, cid_from_digest
from databright.errors import ContractRevert
from databright.market import Market
from databright.market.units import UNIT, format_amount

SPEC = {
    "task": "classification",
    "name": "handwritten digits 8x8",
    "feature_shape": [64],
    "dtype": "float64",
    "labels": list(range(10)),
    "formats": [".npz", ".csv", ".parquet"],
    "min_samples": 50,
}
VOTING_PERIOD = 40
CURATOR_SHARES = (100, 60, 40)


@dataclass
class DataMarketDemo:
    """What the demo did, as read back from the chain (the `--json` summary builds on it)."""

    chain_id: int
    association: str
    database: str = ""
    token: str = ""
    accepted: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    entries: int = 0
    dividends_paid_wei: int = 0
    dividends_withdrawn_wei: int = 0

    def summary(self) -> dict[str, Any]:
        """The machine-readable account of the run (`databright demo --json`)."""
        return {
            "chain": {"chain_id": self.chain_id, "association": self.association},
            "requests": [{"database": self.database, "token": self.token, "entries": self.entries}],
            "proposals": {"accepted": self.accepted, "rejected": self.rejected},
            "refusals": self.refusals,
            "payments": {"data_fee_wei": self.dividends_paid_wei,
                         "dividends_withdrawn_wei": self.dividends_withdrawn_wei},
        }


def _dataset_bytes(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.ascontiguousarray(x, dtype=np.float64), y=np.ascontiguousarray(y, dtype=np.int64))
    return buf.getvalue()


def _refused(console: Console, result: DataMarketDemo, what: str, exc: ContractRevert) -> None:
    result.refusals.append(f"{what}: {exc.reason}")
    console.print(f"  [yellow]refused[/] {what}: [italic]{exc.reason}[/]")


def run_demo(market: Market, console: Console) -> DataMarketDemo:
    """Runs the data market end to end and prints a readable account of it."""
    chain = market.chain
    accounts = chain.accounts()
    initiator, curators, contributors = accounts[0], accounts[1:4], accounts[4:8]
    result = DataMarketDemo(chain.chain_id, market.deployment.association)
    console.rule("[bold]DataBright data market")
    console.print(f"chain {chain.chain_id} ({chain.rpc}), association {market.deployment.association}")

    spec_cid = cid_for_bytes(json.dumps(SPEC, sort_keys=True).encode())
    rules = Rules(quorum_bps=3000, approval_bps=5001, voting_period=VOTING_PERIOD, max_shares=100 * UNIT)
    info = market.as_account(initiator).create_request(
        "digits", "DIGIT", spec_cid, {c: s * UNIT for c, s in zip(curators, CURATOR_SHARES, strict=True)}, rules)
    result.database, result.token = info.database, info.token
    console.print(f"1. initiator opened request [bold]{info.name}[/]: registry {info.database}, spec {spec_cid}")

    market.as_account(curators[0]).delegate(info.database)
    market.as_account(curators[1]).delegate(info.database)
    market.as_account(curators[2]).delegate(info.database, curators[0])
    console.print("2. curators 1 and 2 vote themselves; curator 3 delegates its 40 shares to curator 1")

    digits = load_digits()
    order = np.random.default_rng(7).permutation(len(digits.target))
    slices = np.array_split(order[:1200], 4)
    asks = (30, 30, 90, 30)
    proposals: dict[str, int] = {}
    cids: dict[str, str] = {}
    console.print("3. contributors propose slices of the digits:")
    for who, idx, ask, name in zip(contributors, slices, asks, ("alice", "bob", "carol", "dave"), strict=True):
        cid = cid_for_bytes(_dataset_bytes(digits.data[idx], digits.target[idx]))
        cids[name] = cid
        pid = market.as_account(who).propose(info.database, cid, len(idx), ask * UNIT)
        proposals[name] = pid
        console.print(f"  proposal {pid}: {name} offers {len(idx)} samples ({cid[:20]}…) for {ask} shares")
    try:
        market.as_account(contributors[0]).propose(info.database, cids["alice"], 10, 500 * UNIT)
    except ContractRevert as exc:
        _refused(console, result, "a proposal asking for 500 shares", exc)

    console.print("4. curators vote:")
    ballots = {
        "alice": [(0, True, "clean, balanced labels"), (1, True, "looks good")],
        "bob": [(0, True, "useful"), (1, False, "too similar to alice")],
        "carol": [(0, False, "asks 3x the shares for the same amount of data"), (1, False, "greedy")],
    }
    for name, votes in ballots.items():
        for curator, support, reason in votes:
            weight = market.as_account(curators[curator]).vote(proposals[name], support, reason)
            console.print(f"  curator {curator + 1} votes {'yes' if support else 'no '} on {name} "
                          f"with {format_amount(weight)} shares: {reason}")
    try:
        market.as_account(curators[0]).vote(proposals["alice"], True, "again")
    except ContractRevert as exc:
        _refused(console, result, "a second vote by curator 1", exc)
    try:
        market.as_account(contributors[3]).vote(proposals["dave"], True, "vote for myself")
    except ContractRevert as exc:
        _refused(console, result, "dave voting without shares", exc)
    try:
        market.execute(proposals["alice"])
    except ContractRevert as exc:
        _refused(console, result, "executing before the vote ends", exc)

    chain.mine(VOTING_PERIOD + 1)
    console.print(f"5. voting closed (block {chain.w3.eth.block_number}); executing:")
    for name, pid in proposals.items():
        state = market.proposal(pid).state
        if state is ProposalState.SUCCEEDED:
            market.execute(pid)
            result.accepted.append(pid)
            console.print(f"  [green]accepted[/] proposal {pid} ({name}): shares minted, entry registered")
        else:
            result.rejected.append(pid)
            console.print(f"  [red]rejected[/] proposal {pid} ({name}): {state.name.lower()}")
    try:
        market.as_account(contributors[3]).propose(info.database, cids["alice"], 300, 30 * UNIT)
    except ContractRevert as exc:
        _refused(console, result, "re-proposing alice's registered data", exc)

    payment = UNIT  # 1 ether: a data fee, as the compute market will pay it
    market.as_account(initiator).distribute(info.database, payment)
    result.dividends_paid_wei = payment
    console.print(f"6. a buyer's data fee of {format_amount(payment)} ETH is paid as dividends in one O(1) call")
    holders = market.holdings(info.database)
    for h in holders:
        if h.withdrawable > 0:
            result.dividends_withdrawn_wei += market.as_account(h.account).withdraw(info.database)
    console.print("7. every shareholder withdraws its dividends")

    result.entries = len(market.entries(info.database))
    _summary(console, market, info.database, contributors, curators)
    return result


def _summary(console: Console, market: Market, database: str, contributors: list[str], curators: list[str]) -> None:
    names = {a: f"curator {i + 1}" for i, a in enumerate(curators)}
    names |= {a: n for a, n in zip(contributors, ("alice", "bob", "carol", "dave"), strict=True)}
    supply = market.token(database).total_supply()
    table = Table("holder", "shares", "%", "votes", "dividends withdrawn (ETH)", title="shareholders after the demo")
    for h in market.holdings(database):
        table.add_row(names.get(h.account, h.account), format_amount(h.balance), f"{100 * h.balance / supply:.1f}",
                      format_amount(h.votes), format_amount(h.withdrawn, 6))
    console.print(table)
    registry = Table("entry", "cid", "contributor", "samples", "shares", title="registry")
    for e in market.entries(database):
        registry.add_row(str(e.index), cid_from_digest(e.cid_digest), names.get(e.contributor, e.contributor),
                         str(e.samples), format_amount(e.shares))
    console.print(registry)
