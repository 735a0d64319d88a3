"""Acting from the dashboard with a browser wallet, in Chromium: every action, read back from the chain.

The page gets a test wallet (`wallet_world.wallet_script`: EIP-1193 and EIP-6963, forwarding to anvil,
whose dev accounts sign); the dashboard serves without any key. Each test clicks what a visitor would
click, waits for the page to say the transaction was mined (or why not), and then reads the effect
with web3.py from the contracts themselves, never from the dashboard.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from databright.chain.artifacts import CONTRACT_NAMES, load_artifacts
from databright.chain.keys import signer
from databright.cid import digest_from_cid
from databright.dashboard import BlobReader
from databright.dashboard import app as dashboard_app
from databright.datasets.canonical import canonicalize
from databright.market.units import UNIT
from databright.store.auth import sign_request

from .wallet_world import RULES, SPEC, World, build_world, wallet_script

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = os.environ.get("DATABRIGHT_SHOTS")  # a folder: save screenshots of the wallet panel at work there
TERMINAL = '["mined", "reverted", "rejected", "error"]'

pytestmark = [
    pytest.mark.anvil,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's chromium is not installed at {CHROMIUM} "
                                                     "(`make test` installs it: apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def world(anvil_rpc: str) -> Iterator[World]:
    assert dashboard_app.WALLET_BUNDLE.exists(), dashboard_app.MISSING_BUNDLE
    with build_world(anvil_rpc) as built:
        yield built


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM),
                                  args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                        "--disable-dev-shm-usage"])
        yield found
        found.close()


@pytest.fixture
def open_page(browser: Browser, world: World) -> Iterator[Any]:
    """open_page(path, *wallets, connect=name): a fresh browser profile with those wallets, at `path`."""
    contexts = []

    def opener(path: str, *wallets: dict[str, Any], connect: str | None = "Test Wallet") -> Page:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        if wallets:
            context.add_init_script(wallet_script(world.rpc, *wallets))
        page = context.new_page()
        response = page.goto(world.dashboard + path)
        assert response is not None and response.status == 200
        page.wait_for_selector('[data-k="wallet-status"]:not([data-state="loading"])')
        if connect is not None:
            page.click(f'button[data-action="connect"]:has-text("Connect {connect}")')
            page.wait_for_selector('[data-k="wallet-status"][data-state="connected"], '
                                   '[data-k="wallet-status"][data-state="wrong-chain"]')
            page.wait_for_selector('[data-k="mine"] h3')
        return page

    yield opener
    for context in contexts:
        context.close()


def act(page: Page, selector: str) -> tuple[str, str, dict[str, str]]:
    """Clicks `selector` and waits for the action it starts to end: (state, text, hash and block shown).

    Every state the status line goes through is recorded (see `states`)."""
    seq = int(page.get_attribute('[data-k="tx"]', "data-seq") or "0")
    page.evaluate("""() => { window.txStates = []; const tx = document.querySelector('[data-k="tx"]');
        if (window.txObserver) window.txObserver.disconnect();
        window.txObserver = new MutationObserver((records) => records.forEach((r) => window.txStates.push(r.oldValue)));
        window.txObserver.observe(tx, {attributes: true, attributeFilter: ["data-state"], attributeOldValue: true});
    }""")
    page.click(selector)
    page.wait_for_function(f"""() => {{ const tx = document.querySelector('[data-k="tx"]');
        return Number(tx.dataset.seq) > {seq} && {TERMINAL}.includes(tx.dataset.state); }}""", timeout=20_000)
    tx = page.locator('[data-k="tx"]')
    return (tx.get_attribute("data-state") or "", " ".join(tx.inner_text().split()),
            {"hash": tx.get_attribute("data-hash") or "", "block": tx.get_attribute("data-block") or ""})


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"wallet-{name}.png"), full_page=True)


def states(page: Page) -> list[str]:
    """The states the status line went through in the last `act`, in order (each one recorded as the
    old value of the next change, so none is lost when two changes fall in one batch of records)."""
    found: list[str] = page.evaluate("""() => [...window.txStates.slice(1),
                                               document.querySelector('[data-k="tx"]').dataset.state]""")
    return found


def mined(world: World, shown: dict[str, str]) -> Any:
    """The receipt of the transaction the page named, checked against the block it said."""
    receipt = world.chain.w3.eth.get_transaction_receipt(shown["hash"])
    assert receipt["status"] == 1 and str(receipt["blockNumber"]) == shown["block"]
    return receipt


def mine_cell(page: Page, request: int, key: str) -> int:
    """The exact amount the panel shows for the connected account in request #`request`."""
    cell = page.locator(f'[data-my-request="{request}"] [data-k="{key}"] .amount')
    return int(cell.get_attribute("data-units") or cell.get_attribute("data-wei") or "")


def wait_panel_block(page: Page, world: World) -> None:
    """Waits until the account panel was read at the chain's latest block."""
    block = world.chain.w3.eth.block_number
    page.wait_for_function(f"Number(document.querySelector('[data-k=\"mine\"]').dataset.block) >= {block}",
                           timeout=10_000)


def wallet(world: World, role: str, **more: Any) -> dict[str, Any]:
    return {"account": world.roles[role], **more}


# ---------------------------------------------------------------- connecting


def test_without_a_wallet_the_page_is_read_only(open_page: Any) -> None:
    page = open_page("/requests/0", connect=None)
    status = page.locator('[data-k="wallet-status"]')
    assert status.get_attribute("data-state") == "none"
    assert "No browser wallet found: this page is read-only" in status.inner_text()
    assert page.locator("#wallet button").count() == 0
    assert page.locator("[data-holder]").count() == 4  # the read-only page itself is all there


def test_several_wallets_are_offered_by_name_and_the_chosen_one_acts(open_page: Any, world: World) -> None:
    page = open_page("/", wallet(world, "curator", name="Alpha"), wallet(world, "newcomer", name="Beta", legacy=False),
                     connect="Beta")
    assert "Connected as " + world.roles["newcomer"] in page.inner_text('[data-k="wallet-status"]')
    calls = page.evaluate("window.walletCalls")
    assert "eth_requestAccounts" in calls["Beta"] and "eth_requestAccounts" not in calls["Alpha"]
    page.reload()  # the choice is remembered, and reconnects without asking again
    page.wait_for_selector('[data-k="wallet-status"][data-state="connected"]')
    assert world.roles["newcomer"] in page.inner_text('[data-k="wallet-status"]')
    assert page.evaluate("window.walletCalls")["Beta"].count("eth_requestAccounts") == 0


def test_the_panel_follows_the_wallet_switching_accounts(open_page: Any, world: World) -> None:
    page = open_page("/requests/0", wallet(world, "curator"))
    newcomer = world.roles["newcomer"]
    page.evaluate(f"window.walletEmit['Test Wallet']('accountsChanged', ['{newcomer.lower()}'])")
    page.wait_for_selector(f'[data-k="mine"][data-account="{newcomer}"]')
    assert "Connected as " + newcomer in page.inner_text('[data-k="wallet-status"]')
    assert mine_cell(page, 0, "balance") == world.tokens.functions.balanceOf(newcomer).call()
    page.evaluate("window.walletEmit['Test Wallet']('accountsChanged', [])")  # the user disconnected the site
    page.wait_for_selector('[data-k="wallet-status"][data-state="disconnected"]')
    assert page.locator('[data-k="mine"] table').count() == 0


def test_a_wallet_on_another_chain_is_told_which_and_switched(open_page: Any, world: World) -> None:
    page = open_page("/requests/0", wallet(world, "curator", chain_id=1))
    status = page.locator('[data-k="wallet-status"]')
    assert status.get_attribute("data-state") == "wrong-chain"
    text = " ".join(status.inner_text().split())
    chain_id = world.chain.chain_id
    assert "your wallet is on chain 1 (Ethereum mainnet)" in text and f"this market is on chain {chain_id}" in text
    assert page.locator('[data-my-request="0"] button[data-action="withdraw-dividends"]').is_disabled()
    page.click('button[data-action="switch-chain"]')
    page.wait_for_selector('[data-k="wallet-status"][data-state="connected"]')
    assert "wallet_switchEthereumChain" in page.evaluate("window.walletCalls")["Test Wallet"]
    assert page.locator('[data-my-request="0"] button[data-action="withdraw-dividends"]').is_enabled()


def test_the_panel_shows_the_accounts_holdings_as_the_chain_has_them(open_page: Any, world: World) -> None:
    page = open_page("/requests/0", wallet(world, "curator"))
    curator, token = world.roles["curator"], world.tokens
    assert mine_cell(page, 0, "balance") == token.functions.balanceOf(curator).call() == 6 * UNIT
    assert mine_cell(page, 0, "votes") == token.functions.getVotes(curator).call() == 6 * UNIT
    assert page.inner_text('[data-my-request="0"] [data-k="delegate"]') == "yourself"
    assert mine_cell(page, 0, "withdrawable") == token.functions.withdrawableDividendOf(curator).call() > 0


# ---------------------------------------------------------------- votes and execution


def test_vote_yes_with_a_reason_then_a_second_vote_shows_the_contracts_reason(open_page: Any, world: World) -> None:
    pid, _ = world.proposal()
    page = open_page(f"/proposals/{pid}", wallet(world, "curator"))
    page.fill('[data-k="reason"]', "clean glyphs, labels checked by eye")
    state, text, shown = act(page, 'button[data-action="vote-yes"]')
    assert state == "mined" and f"mined in block {shown['block']}" in text and shown["hash"] in text
    assert states(page) == ["signing", "pending", "mined"]
    shot(page, "voted")
    receipt = mined(world, shown)
    curator, association = world.roles["curator"], world.association
    assert association.functions.hasVoted(pid, curator).call()
    snapshot = association.functions.proposalSnapshot(pid).call()
    against, votes_for = association.functions.proposalVotes(pid).call()
    assert (votes_for, against) == (world.tokens.functions.getPastVotes(curator, snapshot).call(), 0)
    [event] = association.events.VoteCast().process_receipt(receipt)
    assert (event.args.voter, event.args.support) == (curator, 1)
    assert event.args.reason == "clean glyphs, labels checked by eye"
    page.wait_for_selector(f'[data-my-proposal="{pid}"] [data-k="voted"]:text-is("voted, weight")')  # from the chain
    row = page.wait_for_selector(f'main [data-voter="{curator}"]')  # the page followed the block and shows it
    assert row is not None and "clean glyphs" in row.inner_text()

    state, text, _ = act(page, 'button[data-action="vote-no"]')
    assert state == "reverted" and "The contract refused: association: already voted." in text
    assert association.functions.proposalVotes(pid).call() == [against, votes_for]  # nothing changed


def test_vote_no_counts_the_weight_against(open_page: Any, world: World) -> None:
    pid, _ = world.proposal()
    page = open_page(f"/proposals/{pid}", wallet(world, "second"))
    state, _, shown = act(page, 'button[data-action="vote-no"]')
    assert state == "mined"
    mined(world, shown)
    against, votes_for = world.association.functions.proposalVotes(pid).call()
    assert (against, votes_for) == (1 * UNIT, 0)


def test_voting_without_voting_power_and_after_the_period_show_the_reasons(open_page: Any, world: World) -> None:
    pid, _ = world.proposal()
    page = open_page(f"/proposals/{pid}", wallet(world, "outsider"))
    state, text, _ = act(page, 'button[data-action="vote-yes"]')
    assert state == "reverted" and "association: no voting power at the snapshot" in text
    page = open_page(f"/proposals/{pid}", wallet(world, "curator"))
    world.mine(RULES.voting_period + 1)
    state, text, _ = act(page, 'button[data-action="vote-yes"]')
    assert state == "reverted" and "The contract refused: association: voting closed." in text
    assert not world.association.functions.hasVoted(pid, world.roles["curator"]).call()


def test_execute_a_passed_proposal(open_page: Any, world: World) -> None:
    pid, cid = world.proposal(shares=2 * UNIT)
    world.market.as_account(world.roles["curator"]).vote(pid, True, "fine")
    page = open_page(f"/proposals/{pid}", wallet(world, "outsider"))  # anyone may execute
    state, text, _ = act(page, 'button[data-action="execute"]')
    assert state == "reverted" and "association: voting not over" in text
    world.mine(RULES.voting_period + 1)
    contributor = world.roles["contributor"]
    before = world.tokens.functions.balanceOf(contributor).call()
    state, _, shown = act(page, 'button[data-action="execute"]')
    assert state == "mined"
    mined(world, shown)
    assert world.association.functions.state(pid).call() == 4  # executed
    database = world.contract("Database", world.database)
    assert database.functions.indexOf(digest_from_cid(cid)).call() >= 1
    assert world.tokens.functions.balanceOf(contributor).call() == before + 2 * UNIT
    state, text, _ = act(page, 'button[data-action="execute"]')
    assert state == "reverted" and "association: already executed" in text


# ---------------------------------------------------------------- proposing, delegating, withdrawing


def test_propose_data_already_in_the_store(open_page: Any, world: World) -> None:
    cid = world.upload(samples=9)
    page = open_page("/requests/0", wallet(world, "contributor"))
    count = world.association.functions.proposalCount().call()
    page.fill('[data-k="propose-cid"]', "not-a-cid")
    page.fill('[data-k="propose-samples"]', "9")
    page.fill('[data-k="propose-shares"]', "1.5")
    state, text, _ = act(page, 'button[data-action="propose"]')
    assert state == "error" and "a CID here starts with b" in text
    assert page.evaluate("window.walletCalls")["Test Wallet"].count("eth_sendTransaction") == 0
    page.fill('[data-k="propose-cid"]', cid)
    state, _, shown = act(page, 'button[data-action="propose"]')
    assert state == "mined"
    mined(world, shown)
    pid = count + 1
    assert world.association.functions.proposalCount().call() == pid
    database, _, proposer, body, samples, shares = world.association.functions.proposal(pid).call()
    assert (database, proposer, body, samples, shares) == (world.database, world.roles["contributor"],
                                                           digest_from_cid(cid), 9, 3 * UNIT // 2)
    page.fill('[data-k="propose-shares"]', "11")  # above the request's maximum of 10
    state, text, _ = act(page, 'button[data-action="propose"]')
    assert state == "reverted" and "association: shares above the request's maximum" in text


def test_delegate_to_oneself_to_another_and_undelegate(open_page: Any, world: World) -> None:
    newcomer, curator, token = world.roles["newcomer"], world.roles["curator"], world.tokens
    page = open_page("/requests/0", wallet(world, "newcomer"))
    assert token.functions.getVotes(newcomer).call() == 0
    state, _, shown = act(page, '[data-my-request="0"] button[data-action="delegate-self"]')
    assert state == "mined"
    mined(world, shown)
    assert token.functions.delegates(newcomer).call() == newcomer
    assert token.functions.getVotes(newcomer).call() == 3 * UNIT
    wait_panel_block(page, world)
    assert mine_cell(page, 0, "votes") == 3 * UNIT  # the panel re-read the chain

    curator_votes = token.functions.getVotes(curator).call()
    page.fill('[data-my-request="0"] [data-k="delegate-to"]', curator.lower())
    state, text, shown = act(page, '[data-my-request="0"] button[data-action="delegate"]')
    assert state == "mined", text  # right after the delegation above: see chain.js on estimating gas
    mined(world, shown)
    assert token.functions.delegates(newcomer).call() == curator
    assert token.functions.getVotes(curator).call() == curator_votes + 3 * UNIT
    assert token.functions.getVotes(newcomer).call() == 0

    state, _, shown = act(page, '[data-my-request="0"] button[data-action="undelegate"]')
    assert state == "mined"
    mined(world, shown)
    assert int(token.functions.delegates(newcomer).call(), 16) == 0
    assert token.functions.getVotes(curator).call() == curator_votes
    wait_panel_block(page, world)
    assert "nobody" in page.inner_text('[data-my-request="0"] [data-k="delegate"]')


def test_withdraw_dividends(open_page: Any, world: World) -> None:
    curator, token, w3 = world.roles["curator"], world.tokens, world.chain.w3
    page = open_page("/requests/0", wallet(world, "curator"))
    due = token.functions.withdrawableDividendOf(curator).call()
    assert due > 0 and mine_cell(page, 0, "withdrawable") == due
    withdrawn, balance = token.functions.withdrawnDividendOf(curator).call(), w3.eth.get_balance(curator)
    state, _, shown = act(page, '[data-my-request="0"] button[data-action="withdraw-dividends"]')
    assert state == "mined"
    receipt = mined(world, shown)
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(curator) == balance + due - gas
    assert token.functions.withdrawnDividendOf(curator).call() == withdrawn + due
    assert token.functions.withdrawableDividendOf(curator).call() == 0
    wait_panel_block(page, world)
    assert mine_cell(page, 0, "withdrawable") == 0


def test_withdraw_worker_earnings(open_page: Any, world: World) -> None:
    worker, compute, w3 = world.roles["worker"], world.compute, world.chain.w3
    page = open_page("/workers", wallet(world, "worker"))
    owed = compute.functions.balanceOf(worker).call()
    assert owed == sum(world.market.compute.payouts(job)[worker] for job in world.jobs) > 0
    earned = page.locator('[data-k="worker"] [data-k="earnings"] .amount').get_attribute("data-wei")
    shown_owed = page.locator('[data-k="worker"] [data-k="worker-withdrawable"] .amount').get_attribute("data-wei")
    assert (earned, shown_owed) == (str(owed), str(owed))
    balance = w3.eth.get_balance(worker)
    state, _, shown = act(page, 'button[data-action="withdraw-earnings"]')
    assert state == "mined"
    receipt = mined(world, shown)
    assert compute.functions.balanceOf(worker).call() == 0
    assert w3.eth.get_balance(worker) == balance + owed - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    wait_panel_block(page, world)
    assert page.locator('[data-k="worker-withdrawable"] .amount').get_attribute("data-wei") == "0"
    assert page.locator('[data-k="worker"] [data-k="earnings"] .amount').get_attribute("data-wei") == str(owed)


def test_claim_a_value_payout(open_page: Any, world: World) -> None:
    contributor, compute, w3 = world.roles["contributor"], world.compute, world.chain.w3
    job, off = world.jobs[1], world.jobs[2]
    page = open_page(f"/jobs/{job}", wallet(world, "contributor"))
    row = f'[data-my-value="{job}"]'
    amount = int(page.get_attribute(f"{row} [data-k='value-amount'] .amount", "data-wei") or "")
    assert amount == 3 * UNIT // 10 and not compute.functions.valueClaimed(job, contributor).call()
    assert page.get_attribute(f"{row} [data-k='value-state']", "data-state") == "unclaimed"
    # both jobs pay it 0.3 ETH by their reports; the one whose report the chain's root confirms is offered
    assert page.get_attribute("[data-k='unclaimed-value'] .amount", "data-wei") == str(amount)
    off_state = page.locator(f'[data-my-value="{off}"] [data-k="value-state"]')
    assert off_state.get_attribute("data-state") == "unreadable"
    assert "does not match the value root recorded on-chain" in off_state.inner_text()
    assert page.locator(f'[data-my-value="{off}"] button').count() == 0
    shot(page, "value")
    balance = w3.eth.get_balance(contributor)
    state, _, shown = act(page, f'{row} button[data-action="claim-value"]')
    assert state == "mined"
    receipt = mined(world, shown)
    [event] = compute.events.ValueClaimed().process_receipt(receipt)
    assert (event.args.account, event.args.jobId, event.args.amount) == (contributor, job, amount)
    assert compute.functions.valueClaimed(job, contributor).call()
    assert w3.eth.get_balance(contributor) == balance + amount - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    page.wait_for_selector(f"{row} [data-k='value-state'][data-state='claimed']")  # re-read from the chain
    assert page.get_attribute("[data-k='unclaimed-value'] .amount", "data-wei") == "0"
    assert page.locator(f'{row} button[data-action="claim-value"]').count() == 0


def test_a_claim_the_chain_refuses_shows_its_reason(open_page: Any, world: World) -> None:
    """The panel of a page opened before another tab claimed still offers the claim; the chain says no."""
    second, job = world.roles["second"], world.jobs[1]
    page = open_page("/workers", wallet(world, "second"))
    page.evaluate("document.dispatchEvent = () => true")  # this tab no longer follows new blocks
    view = httpx.get(f"{world.dashboard}/api/accounts/{second}", timeout=10).json()
    [payout] = [v for v in view["value_payouts"] if v["job"] == job]
    world.market.compute.as_account(second).claim_value(job, int(payout["amount_wei"]),
                                                        [bytes.fromhex(p[2:]) for p in payout["proof"]])
    state, text, _ = act(page, f'[data-my-value="{job}"] button[data-action="claim-value"]')
    assert state == "reverted" and "The contract refused: compute: value already claimed." in text


# ---------------------------------------------------------------- refusals by the visitor


def test_a_rejected_signature_sends_nothing_and_says_so(open_page: Any, world: World) -> None:
    pid, _ = world.proposal()
    page = open_page(f"/proposals/{pid}", wallet(world, "curator", reject=["eth_sendTransaction", "personal_sign"]))
    block = world.chain.w3.eth.block_number
    state, text, _ = act(page, 'button[data-action="vote-yes"]')
    assert state == "rejected" and "You rejected the request in your wallet: nothing was sent." in text
    assert states(page) == ["signing", "rejected"]
    assert not world.association.functions.hasVoted(pid, world.roles["curator"]).call()
    assert world.chain.w3.eth.block_number == block
    page.click('button[data-action="view-samples"]')
    box = page.wait_for_selector('[data-k="samples"][data-state="rejected"]')
    assert box is not None and "nothing was asked of the store" in box.inner_text()


# ---------------------------------------------------------------- the data a curator votes on


def test_a_curator_sees_the_proposed_samples_signed_by_its_wallet(open_page: Any, world: World) -> None:
    pid, cid = world.proposal(samples=12)
    page = open_page(f"/proposals/{pid}", wallet(world, "curator"))
    page.click('button[data-action="view-samples"]')
    box = page.wait_for_selector('[data-k="samples"][data-state="shown"]')
    assert box is not None and box.get_attribute("data-kind") == "images"
    x, y = world.datasets[cid]
    labels = page.eval_on_selector_all('[data-k="samples"] figure', "fs => fs.map(f => f.dataset.label)")
    assert labels == [str(v) for v in y]
    # the first glyph's pixels, scaled by the page to 0-255 over the shown samples' range
    drawn = page.evaluate("""() => { const c = document.querySelector('[data-k="samples"] canvas');
        const rgba = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return Array.from(rgba).filter((_, i) => i % 4 == 0); }""")
    low, high = float(x.min()), float(x.max())
    assert drawn == [round((float(v) - low) * 255 / (high - low)) for v in x[0].ravel()]
    assert "personal_sign" in page.evaluate("window.walletCalls")["Test Wallet"]
    shot(page, "samples")


def test_a_delegate_without_shares_sees_the_samples_too(open_page: Any, world: World) -> None:
    pid, cid = world.proposal(samples=5)
    assert world.tokens.functions.balanceOf(world.roles["delegate"]).call() == 0
    page = open_page(f"/proposals/{pid}", wallet(world, "delegate"))
    page.click('button[data-action="view-samples"]')
    page.wait_for_selector('[data-k="samples"][data-state="shown"]')
    labels = page.eval_on_selector_all('[data-k="samples"] figure', "fs => fs.map(f => f.dataset.label)")
    assert labels == [str(v) for v in world.datasets[cid][1]]


def test_samples_that_are_not_images_are_shown_as_a_table(open_page: Any, world: World) -> None:
    pid, cid = world.proposal(samples=7, tabular=True)
    page = open_page(f"/proposals/{pid}", wallet(world, "curator"))
    page.click('button[data-action="view-samples"]')
    box = page.wait_for_selector('[data-k="samples"][data-state="shown"]')
    assert box is not None and box.get_attribute("data-kind") == "table"
    x, y = world.datasets[cid]
    shown = page.eval_on_selector_all('[data-k="samples"] tr[data-sample]', """rows => rows.map(r =>
        [r.dataset.label, [...r.querySelectorAll("[data-value]")].map(c => Number(c.dataset.value))])""")
    assert shown == [[str(label), [float(v) for v in row]] for row, label in zip(x, y, strict=True)]


def test_the_store_refuses_an_account_without_a_right_and_the_page_shows_its_refusal(open_page: Any,
                                                                                      world: World) -> None:
    pid, cid = world.proposal()
    path = f"/blobs/{cid}"  # the store's own answer to the same account, asked directly
    direct = httpx.get(world.store_url + path, headers=sign_request(signer(world.chain, world.roles["outsider"]),
                                                                    "GET", path, cid), timeout=10)
    assert direct.status_code == 403
    page = open_page(f"/proposals/{pid}", wallet(world, "outsider"))
    page.click('button[data-action="view-samples"]')
    box = page.wait_for_selector('[data-k="samples"][data-state="refused"]')
    assert box is not None
    text = " ".join(box.inner_text().split())
    assert text == f"The store refused (403 {direct.json()['error']}): {direct.json()['reason']}"
    assert page.locator('[data-k="samples"] figure').count() == 0
    shot(page, "refused")


# ---------------------------------------------------------------- the server side: read-only, no keys


def test_the_relay_passes_the_stores_answer_back_verbatim(world: World) -> None:
    _, cid = world.proposal()
    path = f"/blobs/{cid}"
    direct = httpx.get(world.store_url + path, timeout=10)
    relayed = httpx.get(f"{world.dashboard}/api/store{path}", timeout=10)
    assert (relayed.status_code, relayed.content) == (direct.status_code, direct.content)
    assert relayed.status_code == 401 and "unsigned request" in relayed.json()["reason"]
    curator = signer(world.chain, world.roles["curator"])
    signed = sign_request(curator, "GET", path, cid)
    relayed = httpx.get(f"{world.dashboard}/api/store{path}", headers=signed, timeout=10)
    x, y = world.datasets[cid]
    assert relayed.status_code == 200 and relayed.headers["x-databright-cid"] == cid
    assert relayed.content == canonicalize(x, y, SPEC).to_bytes()  # the blob's bytes, as the store sent them
    replayed = httpx.get(f"{world.dashboard}/api/store{path}", headers=signed, timeout=10)
    assert replayed.status_code == 401 and "replayed request" in replayed.json()["reason"]  # the store's nonce check
    bad = httpx.get(f"{world.dashboard}/api/store/blobs/not-a-cid", timeout=10)
    assert bad.status_code == 400 and bad.json()["error"] == "bad cid"


def test_the_dashboard_api_is_read_only_and_serves_the_compiled_abis(world: World) -> None:
    from databright.dashboard.core import Dashboard

    app = dashboard_app.create_app(Dashboard(world.market, BlobReader(None)))
    methods = {m for route in app.routes for m in getattr(route, "methods", set())}
    assert methods <= {"GET", "HEAD"}
    for name in CONTRACT_NAMES:
        answer = httpx.get(f"{world.dashboard}/api/abi/{name}", timeout=10)
        assert answer.status_code == 200 and answer.json()["abi"] == load_artifacts()[name].abi
    assert httpx.get(f"{world.dashboard}/api/abi/Nope", timeout=10).status_code == 404
    assert httpx.get(f"{world.dashboard}/api/accounts/0x12", timeout=10).status_code == 400
    market = httpx.get(f"{world.dashboard}/api/market", timeout=10).json()
    assert (market["chain_id"], market["association"]) == (world.chain.chain_id, world.market.deployment.association)


def test_a_missing_bundle_is_said_on_the_page(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from databright.dashboard.core import Dashboard

    monkeypatch.setattr(dashboard_app, "WALLET_BUNDLE", Path("/nonexistent/wallet.js"))
    with TestClient(dashboard_app.create_app(Dashboard(world.market, BlobReader(None)))) as client:
        html = client.get("/").text
    assert 'data-state="unbuilt"' in html and "run `make setup`" in html
    assert '<script src="/static/wallet.js">' not in html
