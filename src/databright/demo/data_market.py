"""The data-market part of the demo, on real data in the encrypted store.

Roles are the chain's funded dev accounts: an initiator, three bootstrap curators, six
contributors (one shuffles its labels, one asks for more shares than its data is worth, one later
sends a duplicate, one scans its digits with heavy pixel noise: accepted, but worth less to the
buyer's job than its shares suggest) and one whose file is malformed. Each contribution is a file (npz, csv or
parquet) that goes validate → encrypt and upload → propose; curators read the data through
the store with their on-chain right before they vote. Every number printed is read back from
the chain or the store, not computed on the side.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from databright.chain.contracts import ProposalState, Rules
from databright.cid import cid_from_digest
from databright.datasets import DatasetError
from databright.datasets.summary import summarize
from databright.datasets.writers import write_dataset
from databright.demo.compute_market import ComputeDemo, run_compute
from databright.demo.environment import SPEC, DemoStore, demo_store, split_digits
from databright.errors import ContractRevert, DataBrightError
from databright.market import Market
from databright.market.data import proposal_data, publish_spec, submit
from databright.market.units import UNIT, format_amount
from databright.oracle import FairSharePolicy, Oracle
from databright.store.client import StoreClient

VOTING_PERIOD = 40
NOISE = 6.0  # std of bob's pixel noise, in grey levels of 0..16
CURATOR_SHARES = (100, 60, 40)
CONTRIBUTORS = (("alice", ".npz", 20), ("bob", ".csv", 30), ("carol", ".parquet", 30), ("dave", ".npz", 90),
                ("erin", ".parquet", 15), ("frank", ".csv", 10))


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
    names: dict[str, str] = field(default_factory=dict)
    votes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # proposal -> voters and reasons
    contributions: dict[int, dict[str, Any]] = field(default_factory=dict)  # proposal -> who, what, value
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # refused before any proposal

    def voted(self, pid: int, voter: str, support: bool, weight: int, reason: str) -> None:
        self.votes.setdefault(pid, []).append({"voter": voter, "support": support, "weight_wei": weight,
                                               "reason": reason})

    def details(self, market: Market) -> dict[str, Any]:
        """Per proposal and per contributor, for the report's pictures (read back from the chain)."""
        votes, people = [], []
        for pid, who in sorted(self.contributions.items()):
            p = market.proposal(pid)
            outcome = "accepted" if pid in self.accepted else "rejected"
            votes.append({"proposal": pid, "contributor": who["name"], "for_wei": p.votes_for,
                          "against_wei": p.votes_against, "outcome": outcome, "reasons": self.votes.get(pid, [])})
            oracle = who.get("oracle") or {}
            reason = oracle.get("reason", "")
            people.append({"name": who["name"], "address": who["address"], "samples": who["samples"],
                           "value": oracle.get("value"), "fair_shares_wei": oracle.get("fair_shares"),
                           "asked_shares_wei": p.shares, "minted_shares_wei": p.shares if outcome == "accepted" else 0,
                           "outcome": outcome if outcome == "accepted" or not reason else f"rejected: {reason}"})
        return {"votes": votes, "contributors": people + self.outcomes}

    def summary(self) -> dict[str, Any]:
        """The data market's share of the machine-readable account (`databright demo --json`)."""
        return {
            "chain": {"chain_id": self.chain_id, "association": self.association},
            "requests": [{"database": self.database, "token": self.token, "entries": self.entries}],
            "proposals": {"accepted": self.accepted, "rejected": self.rejected},
            "refusals": self.refusals,
        }

    def refused(self, console: Console, what: str, exc: DataBrightError) -> None:
        reason = exc.reason if isinstance(exc, ContractRevert) else str(exc)
        self.refusals.append(f"{what}: {reason}")
        console.print(f"  [yellow]refused[/] {what}: [italic]{reason}[/]")


@dataclass
class Demo:
    data: DataMarketDemo
    compute: ComputeDemo
    details: dict[str, Any] = field(default_factory=dict)  # per proposal, contributor, worker: for the report
    report: Path | None = None

    def summary(self) -> dict[str, Any]:
        """The machine-readable account of the whole run (`databright demo --json`)."""
        out = self.data.summary()
        compute = self.compute.summary()
        out["chain"]["compute_market"] = self.compute.compute_market
        out["job"] = compute["job"]
        out["payments"] = compute["payments"]
        out["value"] = compute["value"]
        out["timings"] = self.details.get("timings", {})
        if self.report is not None:
            out["report"] = str(self.report)
        return out


def run_demo(market: Market, console: Console, report_dir: Path | None = None, store_url: str | None = None) -> Demo:
    """Runs the whole market end to end on the digits, prints a readable account of it and writes
    the report with pictures to `report_dir/index.html`. With `store_url` the data goes to that store
    server (which keeps it), else to one in this process that ends with the demo."""
    started = time.perf_counter()
    with demo_store(market, store_url) as store, tempfile.TemporaryDirectory(prefix="databright-demo-") as tmp:
        data = _run(market, store, Path(tmp), console)
        data_s = time.perf_counter() - started
        compute = run_compute(market, store, data.database, console, data.names)
        data.entries = len(market.entries(data.database))
        _summary(console, market, data.database, data.names)
        demo = Demo(data, compute)
        demo.details = _details(market, demo, data_s, time.perf_counter() - started)
    if report_dir is not None:
        from databright.demo.report_html import write_report

        demo.report = write_report({**demo.summary(), **demo.details}, report_dir)
        console.print(f"the report with pictures: {demo.report}")
    return demo


def _details(market: Market, demo: Demo, data_s: float, total_s: float) -> dict[str, Any]:
    names = demo.data.names
    payments = demo.compute.summary()["payments"]
    holders = [{"name": names.get(h.account, h.account[:10]), "shares_wei": h.balance, "dividends_wei": h.withdrawn}
               for h in market.holdings(demo.data.database)]
    return {**demo.data.details(market), "job": demo.compute.details(names), "payments": payments,
            "job_value": demo.compute.value_details(names),
            "shareholders": holders,
            "timings": {"data_market_s": round(data_s, 2), "compute_s": round(total_s - data_s, 2),
                        "total_s": round(total_s, 2)}}


def _run(market: Market, store: DemoStore, tmp: Path, console: Console) -> DataMarketDemo:
    chain = market.chain
    accounts = chain.accounts()
    initiator, curators, contributors = accounts[0], accounts[1:4], accounts[4:10]
    mallory, oracle_account = accounts[18], accounts[19]  # 10..17 are the compute market's, 20.. its workers
    names = {a: f"curator {i + 1}" for i, a in enumerate(curators)} | {
        a: n for a, (n, _, _) in zip(contributors, CONTRIBUTORS, strict=True)} | {oracle_account: "oracle"}
    result = DataMarketDemo(chain.chain_id, market.deployment.association)
    console.rule("[bold]DataBright data market")
    console.print(f"chain {chain.chain_id} ({chain.rpc}), association {market.deployment.association}, "
                  f"store {store.url}")

    digits = split_digits(len(CONTRIBUTORS))
    oracle_client = store.client(oracle_account)
    validation = write_dataset(tmp / "validation.npz", *digits.validation)
    spec_cid, spec = publish_spec(store.client(initiator), SPEC, validation)
    rules = Rules(quorum_bps=3000, approval_bps=5001, voting_period=VOTING_PERIOD, max_shares=100 * UNIT)
    info = market.as_account(initiator).create_request(
        "digits", "DIGIT", spec_cid, {c: s * UNIT for c, s in zip(curators, CURATOR_SHARES, strict=True)}, rules)
    db = info.database
    result.database, result.token = db, info.token
    console.print(f"1. initiator opened request [bold]{info.name}[/]: spec {spec_cid}, "
                  f"validation set of {len(digits.validation[1])} digits stored encrypted as {spec.validation_cid}")

    market.as_account(curators[0]).delegate(db)
    market.as_account(curators[1]).delegate(db, oracle_account)
    market.as_account(curators[2]).delegate(db, oracle_account)
    console.print("2. curator 1 votes with its own 100 shares; curators 2 and 3 delegate their 60 + 40 to the "
                  "oracle, which values data by exact KNN-Shapley on the validation set")
    # 50 shares for a contribution worth the whole validation accuracy: a first good slice is worth ~46
    oracle = Oracle(market.as_account(oracle_account), store.client(oracle_account), [db], tmp / "oracle.json",
                    FairSharePolicy(shares_per_accuracy=50))

    console.print("3. contributors validate, upload (encrypted) and propose their digits:")
    proposals: dict[str, int] = {}
    cids: dict[str, str] = {}
    for who, (name, suffix, ask), (x, y) in zip(contributors, CONTRIBUTORS, digits.contributions, strict=True):
        if name == "carol":  # carol shuffles her labels: the data looks fine, but it teaches the wrong digits
            y = np.random.default_rng(11).permutation(y)
        if name == "bob":  # bob's scanner is noisy: right labels, but each pixel off by ~6 of 16 grey levels
            x = np.clip(x + np.random.default_rng(12).normal(0, NOISE, x.shape), 0, 16)
        path = write_dataset(tmp / f"{name}{suffix}", x, y)
        sub = submit(market.as_account(who), store.client(who), db, path, ask * UNIT)
        proposals[name], cids[name] = sub.proposal_id, sub.cid
        result.contributions[sub.proposal_id] = {"name": name, "address": who, "samples": sub.samples}
        noisy = " (a noisy scanner: right labels, heavy pixel noise)" if name == "bob" else ""
        console.print(f"  proposal {sub.proposal_id}: {name} sends {path.name} with {sub.samples} samples{noisy} "
                      f"({sub.cid[:20]}…) for {ask} shares")
    bad_x = digits.contributions[0][0][:80].copy()
    bad_x[17, 0, 5] = np.nan  # row 17, feature 5 (f5 once flattened)
    bad = write_dataset(tmp / "mallory.csv", bad_x, digits.contributions[0][1][:80])
    before = store.blob_count()
    try:
        submit(market.as_account(mallory), store.client(mallory), db, bad, 10 * UNIT)
    except DatasetError as exc:
        result.refused(console, "mallory's malformed file", exc)
        result.outcomes.append({"name": "mallory", "address": mallory, "samples": len(bad_x), "value": None,
                                "fair_shares_wei": None, "asked_shares_wei": 10 * UNIT, "minted_shares_wei": 0,
                                "outcome": f"refused before upload: {exc}"})
        after = store.blob_count()
        uploaded = "" if before is None or after is None else f" ({after - before} new blobs)"
        console.print(f"  nothing was uploaded{uploaded} or proposed")
    try:
        market.as_account(contributors[0]).propose(db, cids["alice"], 10, 500 * UNIT)
    except ContractRevert as exc:
        result.refused(console, "a proposal asking for 500 shares", exc)

    console.print("4. the oracle and curator 1 read the data through the store and vote:")
    _oracle_round(console, oracle, oracle_client, result)
    cid, ds = proposal_data(market, store.client(curators[0]), proposals["alice"])
    s = summarize(ds)
    console.print(f"  curator 1 reads alice's {cid[:16]}…: {s.samples} samples, {min(s.label_counts.values())}-"
                  f"{max(s.label_counts.values())} per digit, values {s.feature_min:g}..{s.feature_max:g}")
    try:
        proposal_data(market, store.client(contributors[1]), proposals["alice"])
    except DataBrightError as exc:
        result.refused(console, "bob reading alice's data", exc)
    for name, support, reason in (("alice", True, "clean, balanced labels"), ("bob", True, "noisy scans, right labels"),
                                  ("dave", True, "more data is better"), ("erin", True, "looks right"),
                                  ("frank", True, "fair ask")):
        weight = market.as_account(curators[0]).vote(proposals[name], support, reason)
        result.voted(proposals[name], "curator 1", support, weight, reason)
        console.print(f"  curator 1 votes {'yes' if support else 'no'} on {name} with {format_amount(weight)} "
                      f"shares: {reason}")
    for what, action in (("a second vote by curator 1", lambda: market.as_account(curators[0]).vote(
                             proposals["alice"], True, "again")),
                         ("dave voting without shares", lambda: market.as_account(contributors[3]).vote(
                             proposals["dave"], True, "vote for myself")),
                         ("executing before the vote ends", lambda: market.execute(proposals["alice"]))):
        try:
            action()
        except ContractRevert as exc:
            result.refused(console, what, exc)
    _close_and_execute(console, market, result, proposals)

    dup_x, dup_y = digits.contributions[0][0][:150], digits.contributions[0][1][:150]
    dup = submit(market.as_account(contributors[3]), store.client(contributors[3]), db,
                 write_dataset(tmp / "dave-again.npz", dup_x, dup_y), 5 * UNIT)
    result.contributions[dup.proposal_id] = {"name": "dave (duplicate)", "address": contributors[3],
                                             "samples": dup.samples}
    console.print(f"5. dave tries again with 150 of alice's accepted digits (proposal {dup.proposal_id}); "
                  "the oracle checks the registry:")
    _oracle_round(console, oracle, oracle_client, result)
    _close_and_execute(console, market, result, {"dave (duplicate)": dup.proposal_id})
    try:
        market.as_account(contributors[3]).propose(db, cids["alice"], 300, 30 * UNIT)
    except ContractRevert as exc:
        result.refused(console, "re-proposing alice's registered data", exc)

    result.entries = len(market.entries(db))
    result.names = names
    return result


def _oracle_round(console: Console, oracle: Oracle, client: StoreClient, result: DataMarketDemo) -> None:
    for vote in oracle.run_once():
        report = json.loads(client.get_bytes(vote.report_cid))
        result.contributions[vote.proposal_id]["oracle"] = report
        result.voted(vote.proposal_id, "oracle", vote.support, vote.weight, vote.reason)
        verdict = "[green]yes[/]" if vote.support else "[red]no[/]"
        console.print(f"  oracle votes {verdict} on proposal {vote.proposal_id} with "
                      f"{format_amount(vote.weight)} shares: {vote.reason.removeprefix('oracle ')}")


def _close_and_execute(console: Console, market: Market, result: DataMarketDemo, proposals: dict[str, int]) -> None:
    market.chain.mine(VOTING_PERIOD + 1)
    console.print(f"  voting closed (block {market.chain.w3.eth.block_number}); executing:")
    for name, pid in proposals.items():
        p = market.proposal(pid)
        if p.state is ProposalState.SUCCEEDED:
            market.execute(pid)
            result.accepted.append(pid)
            console.print(f"  [green]accepted[/] proposal {pid} ({name}): {format_amount(p.shares)} shares minted, "
                          "entry registered")
        else:
            result.rejected.append(pid)
            console.print(f"  [red]rejected[/] proposal {pid} ({name}): {format_amount(p.votes_for)} for, "
                          f"{format_amount(p.votes_against)} against")


def _summary(console: Console, market: Market, database: str, names: dict[str, str]) -> None:
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
