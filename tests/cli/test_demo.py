"""`databright demo`: the whole market's story, checked against the chain it ran on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from databright.chain.connection import connect, reset_embedded
from databright.chain.contracts import CuratorToken, Database
from databright.cli.main import app
from databright.market import Market


def _demo(*rpc: str, report: Path) -> dict[str, object]:
    result = CliRunner().invoke(app, [*rpc, "demo", "--json", "--report-dir", str(report)])
    assert result.exit_code == 0, result.output
    start = result.stdout.index("{")
    summary: dict[str, object] = json.loads(result.stdout[start:])
    return summary


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def rpc(request: pytest.FixtureRequest) -> str:
    reset_embedded()
    return "embedded" if request.param == "embedded" else str(request.getfixturevalue("anvil_rpc"))


def test_demo_summary_matches_the_chain(rpc: str, tmp_path: Path) -> None:
    s = _demo("--rpc", rpc, report=tmp_path / "report")
    assert s["proposals"] == {"accepted": [1, 2, 5, 6], "rejected": [3, 4, 7]}  # shuffled, greedy, duplicate
    refusals = " | ".join(s["refusals"])  # type: ignore[arg-type]
    for reason in ("shares above the request's maximum", "already voted", "no voting power at the snapshot",
                   "voting not over", "cid already registered", "mallory.csv, row 17, column f5: non-finite value",
                   "store server refused (403)"):
        assert reason in refusals
    [req] = s["requests"]  # type: ignore[misc]
    chain = connect(rpc)
    db = Database(chain, req["database"])
    assert db.entry_count() == req["entries"] == 4
    token = CuratorToken(chain, req["token"])
    payments = s["payments"]
    claimed = payments["value_claimed_wei"]  # type: ignore[index]
    # the data fee: half by measured value (claimed by each contributor), the rest (dust too) as dividends
    assert payments["value_pool_wei"] == payments["data_fee_wei"] // 2  # type: ignore[index,operator]
    assert payments["value_pool_wei"] - 4 <= sum(claimed.values()) <= payments["value_pool_wei"]  # type: ignore[index,operator,union-attr]
    assert token.total_distributed() == payments["data_fee_wei"] - sum(claimed.values())  # type: ignore[index,operator,union-attr]
    holders = token.holders()
    assert sum(token.withdrawn(h) for h in holders) == payments["dividends_withdrawn_wei"]  # type: ignore[index]
    assert token.total_distributed() - len(holders) <= payments["dividends_withdrawn_wei"]  # type: ignore[index,operator]
    assert all(token.withdrawable(h) == 0 for h in holders)
    job = s["job"]
    assert job["status"] == "completed" and job["test_accuracy"] > 0.8  # type: ignore[index,operator]
    compute = Market.open(rpc).compute
    value = s["value"]
    assert value["verified"] and value["embedding"]["kind"] == "penultimate layer"  # type: ignore[index]
    people = value["contributors"]  # type: ignore[index]
    contributors = {e.contributor: e.shares for e in db.entries()}
    assert set(people) == set(contributors) == set(claimed)  # type: ignore[arg-type]
    assert all(compute.value_claimed(job["id"], a) for a in claimed)  # type: ignore[index,union-attr]
    record = compute.value_record(job["id"])  # type: ignore[index]
    assert record is not None and record["pool"] == sum(claimed.values())  # type: ignore[union-attr]  # dust: dividends
    assert compute.job_value(job["id"]).unclaimed == 0  # type: ignore[index]  # every payout was claimed
    # bob's noisy digits: the most shares of the contributors, clearly the least value per share
    per_share = {a: people[a]["value"] / contributors[a] for a in people}  # type: ignore[index]
    bob = max(contributors, key=lambda a: contributors[a])
    assert per_share[bob] < 0.6 * min(v for a, v in per_share.items() if a != bob)
    assert compute.address == s["chain"]["compute_market"]  # type: ignore[index]
    settled = compute.job(job["id"])  # type: ignore[index]
    assert settled.state.name == "COMPLETED" and settled.workers == job["workers"]  # type: ignore[index]
    # every protection on, and the cheat caught: TMR agreed on every unit, one deviation, one slash
    assert job["redundancy"] == 3 and job["groups_agreed"] == job["units_verified"] > 0  # type: ignore[index]
    [cheat] = job["slashed_workers"]  # type: ignore[index]
    assert job["deviations_detected"] == 1 and compute.worker(cheat).stake == 0  # type: ignore[index]
    [slash] = compute.slashes(job["id"])  # type: ignore[index]
    assert slash.worker == cheat and slash.amount == payments["slashed_stake_wei"]  # type: ignore[index]
    # its evidence (the cheating stage's signed transcript of the unit) holds when re-run, as `evidence verify` does
    checks = job["evidence_checks"]  # type: ignore[index]
    assert any(w.startswith(f"{cheat[:10]} (") and "its signed reply there differs from the re-run" in w
               for w in checks)  # type: ignore[union-attr]
    assert job["data_cap"] == 0.05 and 0 < job["max_worker_data_fraction"] <= 0.05  # type: ignore[index,operator]
    assert job["split_stages"] == 2 and 0 < job["max_worker_param_fraction"] < 1  # type: ignore[index,operator]
    # 3 groups x (20 shard owners + a second stage) + the cheat's replacement
    assert len(job["workers"]) == 64  # type: ignore[index,arg-type]
    paid = payments["worker_payouts_wei"]  # type: ignore[index]
    assert paid == compute.payouts(job["id"]) and set(paid) == set(job["workers"]) - {cheat}  # type: ignore[index]
    # the compute fee is split by units, down to the wei (rounding dust goes back to the buyer)
    assert payments["compute_fee_wei"] - len(paid) < sum(paid.values()) <= payments["compute_fee_wei"]  # type: ignore[index,operator]
    assert all(compute.balance(w) == 0 for w in paid)  # every worker withdrew
    association = Market.open(rpc).association if rpc == "embedded" else None
    if association is not None:  # the oracle's reasons are on-chain with its votes
        reasons = {p: [v.reason for v in association.votes(p) if v.reason.startswith("oracle")] for p in (3, 4, 7)}
        assert "label noise" in reasons[3][0] and "asks 90.00 shares" in reasons[4][0]
        assert "duplicates 100%" in reasons[7][0]
    page = (tmp_path / "report" / "index.html").read_text()
    assert s["report"] == str(tmp_path / "report" / "index.html")
    for section in ("Votes per proposal", "Value and shares per contributor", "Samples seen per worker",
                    "Parameters held per worker", "accuracy", "Where the money went",
                    "dividends by shares beside payouts by value"):
        assert section.lower() in page.lower()
    assert page.count("<svg") >= 7 and "slashed" in page
