"""The dashboard in a real browser: `databright serve` as its own process after a demo on anvil.

Chromium (Debian's, driven by Playwright) loads each page; what it shows is compared with the JSON
API and with `cast call` on the contracts, so the page, the API and the chain are three independent
readings of the same numbers. Amounts are compared exactly through the pages' `data-wei` and
`data-units` attributes, and as the rounded text a person reads.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from databright.chain.connection import connect
from databright.chain.deployment import deploy
from databright.config import repo_root
from databright.market import Market
from databright.market.units import UNIT, format_amount

from .conftest import DemoRun, demo_with_store

CHROMIUM = Path("/usr/bin/chromium")
CAST = repo_root() / ".tools/node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
SHOTS = os.environ.get("DATABRIGHT_SHOTS")  # a folder: save a full-page screenshot of each page there

pytestmark = [
    pytest.mark.anvil,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's chromium is not installed at {CHROMIUM} "
                                                     "(`make setup` installs it: apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def run(anvil_rpc: str) -> Iterator[DemoRun]:
    chain = connect(anvil_rpc)
    with demo_with_store(Market(chain, deploy(chain))) as demo:
        yield demo


@pytest.fixture(scope="module")
def base(run: DemoRun, anvil_rpc: str) -> Iterator[str]:
    """`databright serve` in its own process, reading as it chooses by default (the approved coordinator)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "databright.cli.main", "--rpc", anvil_rpc, "--store", run.store_url,
           "serve", "--port", str(port), "--poll", "0.3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=os.environ | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []], daemon=True).start()
    seen = []
    deadline = time.monotonic() + 60
    while not any("dashboard on" in x for x in seen):
        assert proc.poll() is None and time.monotonic() < deadline, "".join(seen)
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            continue
    assert f"read as {run.coordinator}, coordinator" in "".join(seen)
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM))
        yield found
        found.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    tab = browser.new_page(viewport={"width": 1440, "height": 900})
    yield tab
    tab.close()


def cast(rpc: str, address: str, signature: str, *args: str) -> list[str]:
    """`cast call` on a contract: one value per output, as cast prints them (numbers without its [1e18] hint)."""
    out = subprocess.run([str(CAST), "call", address, signature, *args, "--rpc-url", rpc], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return [line.split(" [")[0].strip() for line in out.strip().splitlines()]


def cast_int(rpc: str, address: str, signature: str, *args: str) -> int:
    [value] = cast(rpc, address, signature, *args)
    return int(value)


def visit(page: Page, base: str, path: str, shot: str) -> dict[str, Any]:
    """Loads the page in the browser; returns its JSON twin."""
    response = page.goto(base + path)
    assert response is not None and response.status == 200
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{shot}.png"), full_page=True)
    api = httpx.get(base + "/api" + (path if path != "/" else "/overview"), timeout=30)
    assert api.status_code == 200
    data: dict[str, Any] = api.json()
    assert page.locator("#block").inner_text() == str(data["block"])
    return data


def wei(page: Page, selector: str) -> int:
    """The exact amount in the one element matched (its data-wei or data-units attribute)."""
    amount = page.locator(f"{selector} [data-wei], {selector} [data-units]")
    assert amount.count() == 1, selector
    return int(amount.get_attribute("data-wei") or amount.get_attribute("data-units") or "")


def text(page: Page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


ROWS = """(rows, attr) => Object.fromEntries(rows.map(row => [row.getAttribute(attr), Object.fromEntries(
    [...row.querySelectorAll("[data-k]")].map(cell => {
        const amount = cell.querySelector("[data-wei], [data-units]");
        return [cell.dataset.k, {text: cell.innerText.trim().replace(/\\s+/g, " "),
                                 exact: amount ? BigInt(amount.dataset.wei ?? amount.dataset.units).toString() : null}];
    }))]))"""


def rows(page: Page, attr: str) -> dict[str, dict[str, dict[str, str | None]]]:
    """Every row marked `attr` (e.g. data-worker), read in one round trip: row id -> key -> text and exact amount."""
    found: dict[str, dict[str, dict[str, str | None]]] = page.eval_on_selector_all(f"[{attr}]", ROWS, attr)
    return found


def sample(addresses: list[str], *keep: str, n: int = 6) -> list[str]:
    """What `cast` checks of a long list: the first few and the ones that matter (a slashed worker, ...)."""
    return list(dict.fromkeys([*addresses[:n], *(a for a in keep if a in addresses)]))


def test_overview_shows_the_deployment_and_totals(page: Page, base: str, run: DemoRun, anvil_rpc: str) -> None:
    api = visit(page, base, "/", "overview")
    d = run.market.deployment
    assert text(page, '[data-k="association"]') == api["deployment"]["association"] == d.association
    assert text(page, '[data-k="compute_market"]') == api["deployment"]["compute_market"] == d.compute_market
    chain_id = subprocess.run([str(CAST), "chain-id", "--rpc-url", anvil_rpc], check=True, capture_output=True,
                              text=True, timeout=30).stdout.strip()
    assert text(page, '[data-k="chain_id"]') == str(api["chain_id"]) == chain_id
    requests = cast_int(anvil_rpc, d.association, "requestCount()(uint256)")
    assert int(text(page, '[data-k="requests"]')) == len(api["requests"]) == requests >= 1
    proposals = cast_int(anvil_rpc, d.association, "proposalCount()(uint256)")
    assert int(text(page, '[data-k="proposals"]')) == api["proposals"]["count"] == proposals >= 1
    jobs = cast_int(anvil_rpc, d.compute_market, "jobCount()(uint256)")
    assert int(text(page, '[data-k="jobs"]')) == api["jobs"]["count"] == jobs >= 1
    distributed = 0
    for req in api["requests"]:
        i = str(req["index"])
        assert cast(anvil_rpc, d.association, "requestAt(uint256)(address)", i) == [req["database"]]
        entries = cast_int(anvil_rpc, req["database"], "entryCount()(uint256)")
        assert int(text(page, f'[data-request="{i}"] [data-k="entries"]')) == req["entries"] == entries >= 1
        supply = cast_int(anvil_rpc, req["token"], "totalSupply()(uint256)")
        assert wei(page, f'[data-request="{i}"] [data-k="supply"]') == req["total_supply"] == supply
        distributed += cast_int(anvil_rpc, req["token"], "totalDistributed()(uint256)")
    assert wei(page, '[data-k="dividends_distributed"]') == api["money"]["dividends_distributed_wei"] == distributed
    assert text(page, '[data-k="dividends_distributed"]') == f"{format_amount(distributed, 6)} ETH"
    stakes = cast_int(anvil_rpc, d.compute_market, "totalStake()(uint256)")
    assert wei(page, '[data-k="stakes"]') == api["money"]["stakes_wei"] == stakes
    balance = int(subprocess.run([str(CAST), "balance", d.compute_market, "--rpc-url", anvil_rpc], check=True,
                                 capture_output=True, text=True, timeout=30).stdout.split()[0])
    assert wei(page, '[data-k="market_balance"]') == api["money"]["compute_market_balance_wei"] == balance


def test_request_page_shows_the_shareholders_balances_and_dividends(page: Page, base: str, anvil_rpc: str) -> None:
    api = visit(page, base, "/requests/0", "request")
    token = api["token"]
    assert len(api["shareholders"]) == page.locator("[data-holder]").count() >= 2
    for h in api["shareholders"]:
        row = f'[data-holder="{h["account"]}"]'
        for key, signature, field in (("balance", "balanceOf(address)(uint256)", "balance"),
                                      ("withdrawn", "withdrawnDividendOf(address)(uint256)", "withdrawn_wei"),
                                      ("withdrawable", "withdrawableDividendOf(address)(uint256)", "withdrawable_wei")):
            on_chain = cast_int(anvil_rpc, token, signature, h["account"])
            assert wei(page, f'{row} [data-k="{key}"]') == h[field] == on_chain, (h["account"], key)
        assert text(page, f'{row} [data-k="balance"]') == format_amount(h["balance"])
    supply = cast_int(anvil_rpc, token, "totalSupply()(uint256)")
    assert wei(page, '[data-k="supply"]') == api["total_supply"] == supply
    entries = cast_int(anvil_rpc, api["database"], "entryCount()(uint256)")
    assert page.locator("[data-entry]").count() == len(api["entries"]) == entries
    assert api["spec"]["readable"] and api["spec"]["data"]["name"] in page.inner_text("main")  # read from the store


def test_proposal_page_shows_the_tally_the_votes_and_the_oracle_report(page: Page, base: str, run: DemoRun,
                                                                        anvil_rpc: str) -> None:
    # one proposal the oracle voted for and one it voted against
    shown_states = set()
    for p in run.market.proposals():
        oracle_votes = [v for v in run.market.association.votes(p.id) if v.reason.startswith("oracle")]
        if not oracle_votes or oracle_votes[0].support in shown_states:
            continue
        shown_states.add(oracle_votes[0].support)
        api = visit(page, base, f"/proposals/{p.id}", f"proposal-{p.id}")
        against, votes_for = (int(x) for x in cast(anvil_rpc, run.market.deployment.association,
                                                   "proposalVotes(uint256)(uint256,uint256)", str(p.id)))
        assert (wei(page, '[data-k="for"]'), wei(page, '[data-k="against"]')) == (votes_for, against) == (
            api["votes_for"], api["votes_against"])
        state = cast_int(anvil_rpc, run.market.deployment.association, "state(uint256)(uint8)", str(p.id))
        assert text(page, '[data-k="state"]') == api["state"] == ("", "active", "defeated", "succeeded",
                                                                  "executed")[state]
        [vote] = [v for v in api["votes"] if v["voter"] == oracle_votes[0].voter]
        row = f'[data-voter="{vote["voter"]}"]'
        assert text(page, f'{row} [data-k="reason"]') == " ".join(vote["reason"].split())
        assert wei(page, f'{row} [data-k="weight"]') == vote["weight"]
        report = vote["report"]["data"]  # the dashboard reads as a coordinator: the report is open to it
        shown = f'[data-report="{vote["report"]["cid"]}"]'
        assert text(page, f'{shown} [data-k="noise"]') == f"{report['noise_fraction'] * 100:.1f}%"
        assert text(page, f'{shown} [data-k="verdict"]') == ("yes" if vote["support"] else "no")
    assert shown_states == {True, False}


def test_job_page_shows_units_payouts_and_the_accuracy_curve(page: Page, base: str, run: DemoRun,
                                                             anvil_rpc: str) -> None:
    job_id = run.job_id
    api = visit(page, base, f"/jobs/{job_id}", "job")
    market = run.market.deployment.compute_market
    assert text(page, '[data-k="state"]') == "completed" == api["state"]
    *_, total_units = cast(anvil_rpc, market, "jobResult(uint256)(bytes32,bytes32,bytes32,uint256)", str(job_id))
    assert text(page, '[data-k="total_units"]') == f"{int(total_units):,}" == f"{api['total_units']:,}"
    paid = run.summary["payments"]["worker_payouts_wei"]
    shown = rows(page, "data-worker")
    assert list(shown) == [w["address"] for w in api["workers"]]
    for w in api["workers"]:  # every row as the API has it
        row = shown[w["address"]]
        assert row["units"]["text"] == f"{w['units']:,}" and int(row["paid"]["exact"] or "") == w["paid_wei"]
        assert w["paid_wei"] == paid.get(w["address"], 0)
        if w["report"] is not None:
            assert row["data_fraction"]["text"] == f"{w['report']['data_fraction'] * 100:.2f}%"
    slashed = [x["worker"] for x in api["slashes"]]
    for address in sample(list(shown), *slashed, max(paid, key=lambda a: paid[a])):  # and as the chain has it
        units = cast_int(anvil_rpc, market, "unitsOf(uint256,address)(uint256)", str(job_id), address)
        assert shown[address]["units"]["text"] == f"{units:,}"
    for address in slashed:
        assert cast(anvil_rpc, market, "isSlashed(uint256,address)(bool)", str(job_id), address) == ["true"]
        assert shown[address]["slashed"]["exact"] == str(next(x["amount_wei"] for x in api["slashes"]
                                                               if x["worker"] == address))
    assert wei(page, '[data-k="payouts"]') == sum(paid.values()) == api["payouts_wei"]
    data_fee, compute_fee = (int(x) for x in cast(anvil_rpc, market, "job(uint256)(address,address,bytes32,uint256,"
                                                  "uint256,uint256,address,uint8)", str(job_id))[3:5])
    assert (wei(page, '[data-k="data_fee"]'), wei(page, '[data-k="compute_fee"]')) == (data_fee, compute_fee)
    curve = api["report"]["curve"]
    points = page.locator('svg.chart polyline[data-series="held-out"]').get_attribute("points") or ""
    assert len(points.split()) == len([c for c in curve if c["eval_accuracy"] is not None]) >= 2
    assert page.locator('[data-k="curve-point"]').count() == len(curve)
    assert text(page, '[data-k="eval_accuracy"]') == f"{run.summary['job']['test_accuracy'] * 100:.1f}%"


def test_workers_page_shows_stakes_and_earnings(page: Page, base: str, run: DemoRun, anvil_rpc: str) -> None:
    api = visit(page, base, "/workers", "workers")
    market = run.market.deployment.compute_market
    shown = rows(page, "data-worker")
    assert list(shown) == [w["address"] for w in api["workers"]] and len(shown) >= len(run.summary["job"]["workers"])
    for w in api["workers"]:  # every row as the API has it
        row = shown[w["address"]]
        assert [row[k]["exact"] for k in ("stake", "earnings", "withdrawable")] == [
            str(w["stake_wei"]), str(w["earnings_wei"]), str(w["withdrawable_wei"])]
        assert row["registered"]["text"] == ("yes" if w["registered"] else "slashed" if w["slashed_wei"] else "left")
        assert int(row["earnings"]["exact"] or "") == run.summary["payments"]["worker_payouts_wei"].get(w["address"], 0)
    slashed = [w["address"] for w in api["workers"] if w["slashed_wei"]]
    for address in sample(list(shown), *slashed):  # and as the chain has it
        stake, open_jobs, registered = cast(anvil_rpc, market, "worker(address)(uint256,uint256,bool)", address)
        assert (shown[address]["stake"]["exact"], shown[address]["open_jobs"]["text"]) == (stake, open_jobs)
        assert (registered == "true") == (shown[address]["registered"]["text"] == "yes")
        owed = cast(anvil_rpc, market, "balanceOf(address)(uint256)", address)
        assert [shown[address]["withdrawable"]["exact"]] == owed


def test_an_unknown_job_is_a_404_page(page: Page, base: str, run: DemoRun, anvil_rpc: str) -> None:
    jobs = cast_int(anvil_rpc, run.market.deployment.compute_market, "jobCount()(uint256)")
    response = page.goto(base + f"/jobs/{jobs + 1}")
    assert response is not None and response.status == 404
    assert text(page, '[data-k="error"]') == f"no job #{jobs + 1}: there {'is' if jobs == 1 else 'are'} {jobs}"
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "not-found.png"), full_page=True)


def test_an_open_page_follows_new_chain_events(page: Page, base: str, run: DemoRun, anvil_rpc: str) -> None:
    """Runs last: it pays a dividend on the chain while the request page is open."""
    api = visit(page, base, "/requests/0", "request")
    page.evaluate("window.notReloaded = true")
    run.market.as_account(0).distribute(api["database"], UNIT // 4)
    page.wait_for_function("Number(document.body.dataset.updates) >= 1", timeout=15_000)
    distributed = cast_int(anvil_rpc, api["token"], "totalDistributed()(uint256)")
    assert distributed == api["dividends"]["distributed_wei"] + UNIT // 4
    assert wei(page, '[data-k="dividends-distributed"]') == distributed
    assert page.evaluate("window.notReloaded") is True  # the page swapped its content in place
    assert int(page.locator("#block").inner_text()) == api["block"] + 1
