"""The dashboard's pages and their JSON twins after one demo run on the embedded chain.

Every number is checked against the chain (read through the Market API, not through the dashboard's
own code) and the page's exact amounts (`data-wei`/`data-units`) against the JSON. Expectations come
from the chain and the demo's summary rather than from today's story, so that the demo can grow
(more contributors, TMR, a slashed worker) without these tests changing. The test that changes the
chain (a dividend, a new job) comes last.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from web3 import Web3

from databright.chain.connection import Chain, connect, reset_embedded
from databright.chain.deployment import deploy
from databright.chain.keys import signer
from databright.cid import cid_for_bytes, cid_from_digest
from databright.dashboard import BlobReader, Dashboard, create_app
from databright.market import Market
from databright.market.units import UNIT
from databright.store.client import StoreClient

from .conftest import DemoRun, demo_with_store
from .html import Node, parse


@pytest.fixture(scope="module")
def run() -> Iterator[DemoRun]:
    reset_embedded()
    chain = connect("embedded")
    with demo_with_store(Market(chain, deploy(chain))) as demo:
        yield demo


@pytest.fixture(scope="module")
def client(run: DemoRun) -> Iterator[TestClient]:
    """The dashboard reading as the demo's coordinator (it may read job reports and voted data)."""
    store = StoreClient(run.store_url, signer(run.market.chain, run.coordinator))
    with TestClient(create_app(Dashboard(run.market.as_account(run.coordinator), BlobReader(store)))) as client:
        yield client
    store.close()


@pytest.fixture(scope="module")
def outsider(run: DemoRun) -> Iterator[TestClient]:
    """The dashboard signing store reads with a fresh key: no right on-chain, so only specs are open to it."""
    store = StoreClient(run.store_url, Account.create())
    with TestClient(create_app(Dashboard(run.market, BlobReader(store)))) as client:
        yield client
    store.close()


def both(client: TestClient, path: str) -> tuple[dict[str, Any], Node]:
    api, page = client.get("/api" + (path if path != "/" else "/overview")), client.get(path)
    assert api.status_code == page.status_code == 200, (api.text, page.text[:500])
    return api.json(), parse(page.text)


def test_overview_matches_the_chain(run: DemoRun, client: TestClient) -> None:
    s, m = run.summary, run.market
    api, page = both(client, "/")
    assert api["block"] == m.chain.w3.eth.block_number and api["chain_id"] == s["chain"]["chain_id"]
    assert api["deployment"]["association"] == s["chain"]["association"] == page.clean("association")
    assert api["deployment"]["compute_market"] == s["chain"]["compute_market"] == page.clean("compute_market")
    assert [{k: r[k] for k in ("database", "token", "entries")} for r in api["requests"]] == s["requests"]
    for r in api["requests"]:
        assert r["entries"] == len(m.entries(r["database"])) == int(page.one("data-request", str(r["index"])).clean(
            "entries"))
        assert r["total_supply"] == m.token(r["database"]).total_supply()
        assert page.one("data-request", str(r["index"])).wei("supply") == r["total_supply"]
    states = [p.state.name.lower() for p in m.proposals()]
    expected = {state: states.count(state) for state in ("active", "defeated", "succeeded", "executed")}
    assert api["proposals"]["by_state"] == expected and api["proposals"]["count"] == len(states)
    assert expected["executed"] == len(s["proposals"]["accepted"]) and expected["defeated"] == len(
        s["proposals"]["rejected"])
    assert {state: int(page.clean(f"proposals-{state}")) for state in expected} == expected
    jobs = [j.state.name.lower() for j in m.compute.jobs()]
    assert api["jobs"]["by_state"]["completed"] == jobs.count("completed") == int(page.clean("jobs-completed")) >= 1
    money, payments = api["money"], s["payments"]
    # the data fee less what its contributors were paid by value (the job page shows that part)
    assert money["dividends_distributed_wei"] == sum(m.token(r["database"]).total_distributed()
                                                     for r in api["requests"]) == payments["data_fee_wei"] - sum(
        payments["value_claimed_wei"].values())
    assert money["dividends_withdrawn_wei"] == payments["dividends_withdrawn_wei"]
    assert money["worker_payouts_wei"] == sum(payments["worker_payouts_wei"].values())
    assert money["slashed_wei"] == sum(x.amount for x in m.compute.slashes())
    escrow, stakes, owed = m.compute.market.totals()
    assert (money["escrow_wei"], money["stakes_wei"], money["owed_wei"]) == (escrow, stakes, owed)
    assert money["compute_market_balance_wei"] == m.chain.balance(m.compute.address) == escrow + stakes + owed
    for key in ("dividends_distributed", "dividends_withdrawn", "worker_payouts", "stakes", "escrow", "slashed"):
        assert page.wei(key) == money[f"{key}_wei"], key
    assert page.wei("market_balance") == money["compute_market_balance_wei"]


def test_request_page_shows_every_shareholder_and_dividend(run: DemoRun, client: TestClient) -> None:
    m = run.market
    database = run.summary["requests"][0]["database"]
    token = m.token(database)
    api, page = both(client, "/requests/0")
    for ref in (database, database.lower()):  # by address, checksummed or not, it is the same request
        assert client.get(f"/api/requests/{ref}").json() == api
    holders = token.holders()
    assert [h["account"] for h in api["shareholders"]] == holders and len(holders) >= 2
    for h in api["shareholders"]:
        a = h["account"]
        assert (h["balance"], h["votes"], h["withdrawn_wei"], h["withdrawable_wei"], h["earned_wei"]) == (
            token.balance_of(a), token.votes(a), token.withdrawn(a), token.withdrawable(a), token.accumulated(a))
        row = page.one("data-holder", a)
        assert (row.wei("balance"), row.wei("votes"), row.wei("withdrawn"), row.wei("withdrawable")) == (
            h["balance"], h["votes"], h["withdrawn_wei"], h["withdrawable_wei"])
    assert sum(h["balance"] for h in api["shareholders"]) == api["total_supply"] == page.wei("supply")
    for power in api["voting_power"]:  # every delegate's votes are the balances delegated to it
        who = power["account"]
        assert power["votes"] == token.votes(who) == page.one("data-delegate", who).wei("votes")
        assert power["votes"] == sum(token.balance_of(a) for a in holders if token.delegate_of(a) == who) > 0
    assert sum(power["votes"] for power in api["voting_power"]) <= api["total_supply"]
    d = api["dividends"]
    assert d["distributed_wei"] == token.total_distributed() == page.wei("dividends-distributed")
    payments = run.summary["payments"]  # the demo's one job paid its data fee, less what was paid by value
    assert d["distributed_wei"] == payments["data_fee_wei"] - sum(payments["value_claimed_wei"].values())
    assert d["withdrawn_wei"] == run.summary["payments"]["dividends_withdrawn_wei"] == page.wei("dividends-withdrawn")
    assert d["withdrawn_wei"] + d["withdrawable_wei"] + d["rounding_wei"] == d["distributed_wei"]
    assert 0 <= d["rounding_wei"] <= len(holders)
    entries = m.entries(database)
    assert len(entries) == run.summary["requests"][0]["entries"] == int(page.clean("entries"))
    assert [(e["cid"], e["contributor"], e["samples"], e["shares"], e["proposal_id"]) for e in api["entries"]] == [
        (cid_from_digest(e.cid_digest), e.contributor, e.samples, e.shares, e.proposal_id) for e in entries]
    for e in api["entries"]:
        row = page.one("data-entry", str(e["index"]))
        assert (int(row.clean("samples").replace(",", "")), row.wei("shares")) == (e["samples"], e["shares"])
    assert api["spec"]["readable"] and api["spec"]["data"]["labels"] == list(range(10))
    assert [p["id"] for p in api["proposals"]] == [p.id for p in m.proposals(database)]
    assert [j["id"] for j in api["jobs"]] == [j.id for j in m.compute.jobs() if j.database == database]


def test_proposal_pages_show_votes_with_reasons_and_the_oracle_reports(run: DemoRun, client: TestClient) -> None:
    m = run.market
    reports: dict[int, dict[str, Any]] = {}
    for p in m.proposals():
        api, page = both(client, f"/proposals/{p.id}")
        assert (api["votes_for"], api["votes_against"], api["state"]) == (p.votes_for, p.votes_against,
                                                                           p.state.name.lower())
        assert (page.wei("for"), page.wei("against")) == (p.votes_for, p.votes_against)
        assert page.clean("state") == p.state.name.lower()
        chain_votes = m.association.votes(p.id)
        assert [(v["voter"], v["support"], v["weight"], v["reason"]) for v in api["votes"]] == [
            (v.voter, v.support, v.weight, v.reason) for v in chain_votes]
        for v in api["votes"]:
            row = page.one("data-voter", v["voter"])
            assert row.wei("weight") == v["weight"] and row.clean("reason") == " ".join(v["reason"].split())
            if v["report"] is None:
                continue
            assert v["report"]["readable"], v["report"]  # the coordinator may read what was voted on
            data = v["report"]["data"]
            assert data["proposal"] == p.id and data["support"] == v["support"] and v["reason"].startswith("oracle")
            shown = page.one("data-report", v["report"]["cid"])
            assert shown.clean("noise") == f"{data['noise_fraction'] * 100:.1f}%"
            assert shown.clean("duplicates") == f"{data['duplicate_fraction'] * 100:.1f}%"
            assert shown.wei("fair_shares") == data["fair_shares"]
            reports[p.id] = data
        if p.state.name == "EXECUTED":
            assert api["entry"] is not None and api["entry"]["shares"] == p.shares
    # the demo's story, as the oracle told it: a label-shuffled set and a duplicate, both voted down
    assert any(r["noise_fraction"] > 0.25 and not r["support"] for r in reports.values())
    assert any(r["duplicate_fraction"] == 1.0 and not r["support"] for r in reports.values())
    assert any(r["support"] for r in reports.values())


def test_job_page_matches_the_chain_and_the_report(run: DemoRun, client: TestClient) -> None:
    c = run.market.compute
    job = run.summary["job"]
    api, page = both(client, f"/jobs/{run.job_id}")
    j, payouts = c.job(run.job_id), c.payouts(run.job_id)
    slashed = {x.worker: x.amount for x in c.slashes(run.job_id)}
    assert api["state"] == "completed" == page.clean("state")
    assert (api["data_fee_wei"], api["compute_fee_wei"], api["total_units"]) == (j.data_fee, j.compute_fee,
                                                                                 j.total_units)
    assert (page.wei("data_fee"), page.wei("compute_fee"), page.wei("payouts"), page.wei("stakes_slashed")) == (
        j.data_fee, j.compute_fee, sum(payouts.values()), sum(slashed.values()))
    assert [w["address"] for w in api["workers"]] == j.workers == job["workers"]
    for w in api["workers"]:
        units = c.units_of(run.job_id, w["address"])
        assert (w["paid_wei"], w["units"], w["slashed_wei"]) == (payouts.get(w["address"], 0), units,
                                                                 slashed.get(w["address"], 0))
        row = page.one("data-worker", w["address"])
        assert row.wei("paid") == w["paid_wei"] and row.clean("units") == f"{units:,}"
        reported = w["report"]
        if reported is None:
            continue
        if w["address"] not in slashed:
            assert reported["units"] == units  # the report and the chain agree on the paid work
        assert row.clean("data_fraction") == f"{reported['data_fraction'] * 100:.2f}%"
        assert int(row.clean("distinct").replace(",", "")) == reported["distinct_samples"]
    assert sum(w["units"] for w in api["workers"]) == j.total_units
    assert api["dust_wei"] == j.compute_fee - sum(payouts.values()) < max(1, len(payouts))
    assert api["model_hash_matches"] is True
    report = api["report"]
    assert report["final"]["eval_accuracy"] == job["test_accuracy"]
    assert page.clean("eval_accuracy") == f"{job['test_accuracy'] * 100:.1f}%"
    assert report["max_worker_data_fraction"] == job["max_worker_data_fraction"]
    assert report["redundancy"] == job["redundancy"] == int(page.clean("redundancy"))
    assert sorted(report["slashed_workers"]) == sorted(slashed) == sorted(job.get("slashed_workers", []))
    cap = job.get("data_cap")
    assert report["data_cap"] == cap and page.clean("data_cap") == ("none" if cap is None else f"{cap * 100:.1f}%")
    assert len(report["curve"]) == len(page.all("data-k", "curve-point")) >= 2
    [line] = page.all("data-series", "held-out")
    assert len(line.attrs["points"].split()) == sum(1 for p in report["curve"] if p["eval_accuracy"] is not None)


def test_job_page_shows_the_value_report_against_the_chain(run: DemoRun, client: TestClient,
                                                           outsider: TestClient) -> None:
    c = run.market.compute
    record = c.value_record(run.job_id)
    assert record is not None
    api, page = both(client, f"/jobs/{run.job_id}")
    v = api["value"]
    assert (v["pool_wei"], v["dividends_wei"], v["root"]) == (record["pool"], record["dividends"],
                                                             "0x" + record["root"].hex())
    assert v["unclaimed_wei"] == c.job_value(run.job_id).unclaimed == 0  # the demo's contributors all claimed
    assert v["report"]["root_matches"] and v["report"]["model_matches"]
    assert page.wei("value_pool") == record["pool"] and page.wei("value_dividends") == record["dividends"]
    assert page.clean("value_share") == "50%" and "k = 5" in page.clean("value_method")
    paid = {x["address"]: x["amount_wei"] for x in v["report"]["contributors"]}
    assert sum(paid.values()) == record["pool"] and set(paid) == set(run.summary["value"]["contributors"])
    for address, amount in paid.items():
        row = page.one("data-contributor", address)
        assert row.wei("amount") == amount and "yes" in row.text  # claimed on-chain
    # someone without a right to the report still sees what the chain says
    api, page = both(outsider, f"/jobs/{run.job_id}")
    assert api["value"]["report"] is None and not api["value"]["blob"]["readable"]
    assert page.wei("value_pool") == record["pool"] and "may not read" in page.clean("value_unreadable")


def test_workers_page_matches_the_chain(run: DemoRun, client: TestClient) -> None:
    c = run.market.compute
    api, page = both(client, "/workers")
    assert [w["address"] for w in api["workers"]] == [w.address for w in c.workers()]
    assert len(api["workers"]) >= len(run.summary["job"]["workers"])
    paid: dict[str, int] = {}
    for event in c.market.logs("WorkerPaid", run.market.deployment.block):  # one query, not one per worker
        paid[str(event["worker"])] = paid.get(str(event["worker"]), 0) + int(event["amount"])
    slashes = c.slashes()
    for w in api["workers"]:
        info = c.worker(w["address"])
        assert (w["stake_wei"], w["earnings_wei"], w["withdrawable_wei"], w["registered"]) == (
            info.stake, paid.get(w["address"], 0), c.balance(w["address"]), info.registered)
        assert w["slashed_wei"] == sum(x.amount for x in slashes if x.worker == w["address"])
        row = page.one("data-worker", w["address"])
        assert (row.wei("stake"), row.wei("earnings"), row.wei("withdrawable")) == (
            w["stake_wei"], w["earnings_wei"], w["withdrawable_wei"])
    assert sum(w["earnings_wei"] for w in api["workers"]) == sum(run.summary["payments"]["worker_payouts_wei"].values())
    [coordinator] = [x for x in api["coordinators"] if x["address"] == run.coordinator]
    assert coordinator["approved"] and run.job_id in coordinator["jobs"]


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/jobs/99", 404, "no job #99: there "),
    ("/jobs/abc", 400, "a job id is a whole number from 1, not 'abc'"),
    ("/jobs/0", 400, "a job id is a whole number from 1, not '0'"),
    ("/proposals/77", 404, "no proposal #77: there are "),  # the demo makes several
    ("/proposals/-1", 400, "a proposal id is a whole number from 1, not '-1'"),
    ("/requests/7", 404, "no request #7: there is 1"),
    ("/requests/0xnot-an-address", 400, "a request is named by its index or its database address"),
    ("/requests/0x" + "11" * 20, 404, "is not a request of this market"),
])
def test_bad_input_is_a_clear_error_page(client: TestClient, path: str, status: int, message: str) -> None:
    page = client.get(path)
    assert page.status_code == status
    assert message in parse(page.text).clean("error")
    api = client.get("/api" + path)
    assert api.status_code == status and message in api.json()["error"] and api.json()["status"] == status


def test_an_unknown_page_is_a_404_page_and_json_under_api(client: TestClient) -> None:
    assert client.get("/nowhere").status_code == 404 and "no such page" in client.get("/nowhere").text
    assert client.get("/api/nowhere").json() == {"error": "no such page", "status": 404}


def test_a_reader_without_rights_sees_why_instead_of_a_failure(run: DemoRun, outsider: TestClient) -> None:
    api, page = both(outsider, f"/jobs/{run.job_id}")
    assert api["report"] is None and not api["report_blob"]["readable"]
    assert "may not read" in api["report_blob"]["reason"] and "not readable here" in page.clean("unreadable")
    assert page.wei("payouts") == sum(run.market.compute.payouts(run.job_id).values())  # the chain is public
    voted = next(p for p in run.market.proposals() if any("report" in v.reason for v in run.market.association.votes(
        p.id)))
    api, page = both(outsider, f"/proposals/{voted.id}")
    [closed] = [v["report"] for v in api["votes"] if v["report"]]
    assert not closed["readable"] and "may not read" in closed["reason"] and "may not read" in page.clean("unreadable")
    assert both(outsider, "/requests/0")[0]["spec"]["readable"]  # a spec is open to any signed account
    no_store = Dashboard(run.market, BlobReader(None, "no signing key for this account"))
    with TestClient(create_app(no_store)) as blind:
        api, page = both(blind, "/requests/0")
    assert api["spec"] == {"cid": api["spec_cid"], "readable": False, "reason": "no signing key for this account"}
    assert "no signing key" in page.clean("unreadable")


def test_a_chain_that_stops_answering_is_a_503_page(run: DemoRun) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    chain = Chain(Web3(Web3.HTTPProvider(dead, request_kwargs={"timeout": 2})), dead, run.coordinator)
    with TestClient(create_app(Dashboard(Market(chain, run.market.deployment), BlobReader(None)))) as down:
        for path in ("/", "/jobs/1", "/workers"):
            page = down.get(path)
            assert page.status_code == 503 and f"the chain at {dead} did not answer" in parse(page.text).clean("error")
        api = down.get("/api/head")
        assert api.status_code == 503 and api.json()["error"].startswith(f"the chain at {dead} did not answer")


def test_pages_follow_new_chain_events(run: DemoRun, client: TestClient) -> None:
    """Runs last: it changes the chain (a dividend payment and a new job)."""
    m = run.market
    database = run.summary["requests"][0]["database"]
    before = client.get("/api/requests/0").json()
    overview = client.get("/api/overview").json()
    head = client.get("/api/head").json()
    m.as_account(0).distribute(database, 3 * UNIT)
    buyer = m.as_account(11).compute
    job_id = buyer.post_job(database, cid_for_bytes(b"a spec nobody stored"), UNIT, UNIT, m.chain.now() + 600)
    assert client.get("/api/head").json()["block"] == head["block"] + 2
    after, page = both(client, "/requests/0")
    assert after["dividends"]["distributed_wei"] == before["dividends"]["distributed_wei"] + 3 * UNIT
    for h in after["shareholders"]:
        assert h["withdrawable_wei"] == m.token(database).withdrawable(h["account"])
    assert page.wei("dividends-withdrawable") == after["dividends"]["withdrawable_wei"] > 3 * UNIT - len(
        after["shareholders"])
    now = client.get("/api/overview").json()
    assert now["jobs"]["by_state"]["posted"] == overview["jobs"]["by_state"]["posted"] + 1
    assert now["money"]["escrow_wei"] == overview["money"]["escrow_wei"] + 2 * UNIT
    api, page = both(client, f"/jobs/{job_id}")
    assert api["state"] == "posted" and api["workers"] == [] and api["report"] is None
    assert api["spec"]["readable"] is False and "not in the store" in api["spec"]["reason"]
    assert "No report yet" in page.text
