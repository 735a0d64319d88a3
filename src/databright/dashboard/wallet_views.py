"""What a browser wallet needs from the dashboard: one account's standing, the contracts' ABIs, the market.

The dashboard never acts for anyone: a visitor's wallet signs every transaction in the browser.
What the server adds is reading. `account` answers, for any address, what the chain says it holds
(shares, votes and delegate per request, dividends it may withdraw, whether it voted on each open
proposal and with what weight, its pull balance and earnings as a worker, its value payouts in jobs
and whether it claimed them), read at one block under
the dashboard's lock like every page, so the browser can show numbers that come from the chain and
refresh them when a block is mined, not from what the visitor clicked. `abi` hands out the compiled
contracts' ABIs (`chain.artifacts`), so the browser encodes calls from the very ABI the Python
client uses, and `market` names the chain and the addresses the wallet is to talk to.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from databright.chain.artifacts import CONTRACT_NAMES, load_artifacts
from databright.chain.merkle import ValueTree
from databright.cid import cid_from_digest
from databright.dashboard.core import Dashboard
from databright.dashboard.errors import BadInput, NotFound
from databright.errors import ChainError

ZERO = "0x" + "0" * 40

# the chains a visitor's wallet is most likely on by mistake, named in the wrong-chain notice
KNOWN_CHAINS = {1: "Ethereum mainnet", 10: "OP Mainnet", 56: "BNB Smart Chain", 137: "Polygon", 8453: "Base",
                42161: "Arbitrum One", 11155111: "Sepolia", 17000: "Holesky", 31337: "anvil, a local dev chain"}


def chain_name(chain_id: int) -> str:
    return KNOWN_CHAINS.get(chain_id, f"chain {chain_id}")


def market(d: Dashboard) -> dict[str, Any]:
    """The chain and contracts a wallet acts on (the page embeds this; the bundle reads it)."""
    dep, chain = d.market.deployment, d.market.chain
    return {"chain_id": dep.chain_id, "chain_name": chain_name(dep.chain_id),
            # for a wallet that does not know the chain yet (wallet_addEthereumChain); none for the embedded one
            "rpc_url": None if chain.embedded else chain.rpc, "association": dep.association,
            "compute_market": dep.compute_market, "abis": [f"/api/abi/{n}" for n in CONTRACT_NAMES],
            "store_relay": "/api/store/blobs/"}


def abi(_: Dashboard, name: str) -> dict[str, Any]:
    """A compiled contract's ABI, as vyper wrote it."""
    artifacts = load_artifacts()
    if name not in artifacts:
        raise NotFound(f"no contract {name!r}: the contracts are {', '.join(CONTRACT_NAMES)}")
    return {"name": name, "abi": artifacts[name].abi}


def account(d: Dashboard, ref: str) -> dict[str, Any]:
    """One account's standing. Amounts are decimal strings: wei and share units pass 2**53, past which a
    JSON number read by JavaScript is rounded (0.66 ETH would show as 1 wei more than the chain has)."""
    if not Web3.is_address(ref):
        raise BadInput(f"an account is an address (0x and 40 hex digits), not {ref!r}")
    who = str(Web3.to_checksum_address(ref))
    m, c = d.market, d.compute
    block = d.block()
    requests, tokens = [], {}
    for r in m.requests():
        token = tokens[r.database] = m.token(r.database)
        delegate = token.delegate_of(who)
        requests.append({
            "index": r.index, "name": r.name, "symbol": r.symbol, "database": r.database, "token": r.token,
            "balance": str(token.balance_of(who)), "votes": str(token.votes(who)),
            "delegate": None if int(delegate, 16) == 0 else delegate,
            "withdrawable_wei": str(token.withdrawable(who)), "withdrawn_wei": str(token.withdrawn(who)),
        })
    proposals = []
    for p in m.proposals():
        if p.state.name.lower() != "active":
            continue
        proposals.append({"id": p.id, "database": p.database, "deadline": p.deadline, "snapshot": p.snapshot,
                          "voted": m.association.has_voted(p.id, who),
                          "weight": str(tokens[p.database].past_votes(who, p.snapshot))})
    worker = c.worker(who)
    return {
        "block": block,
        "account": who,
        "requests": requests,
        "open_proposals": proposals,
        "worker": {"registered": worker.registered, "stake_wei": str(worker.stake), "open_jobs": worker.open_jobs,
                   "earnings_wei": str(c.earnings(who)), "withdrawable_wei": str(c.balance(who))},
        "value_payouts": value_payouts(d, who),
    }


def value_payouts(d: Dashboard, who: str) -> list[dict[str, Any]]:
    """`who`'s payout in every job settled with a value root, with the proof its claim needs.

    The amounts come from the job's stored value report (read by the dashboard's own reader, which
    as a coordinator may read them); the proof is rebuilt from the report's payouts with the same
    OpenZeppelin tree the coordinator used (`chain.merkle`), and only a tree whose root is the one
    the chain recorded is offered: a report that does not match the chain is named, not claimed
    from. The chain has the last word anyway: `claimValue` checks the proof against its root.
    """
    c = d.compute
    out: list[dict[str, Any]] = []
    for record in c.market.logs("JobValued", d.market.deployment.block):
        job, root, cid = int(record["jobId"]), bytes(record["valueRoot"]), cid_from_digest(bytes(record["valueCid"]))
        row: dict[str, Any] = {"job": job, "report_cid": cid, "claimed": c.value_claimed(job, who)}
        blob = d.blobs.json(cid)
        if blob is None or not blob.readable:
            out.append({**row, "readable": False, "reason": blob.reason if blob else "no value report"})
            continue
        try:
            payouts = [(str(Web3.to_checksum_address(x["address"])), int(x["amount_wei"]))
                       for x in blob.data["contributors"] if int(x["amount_wei"]) > 0]
            tree = ValueTree.of(payouts) if payouts else None
        except (KeyError, TypeError, ValueError, ChainError) as exc:
            out.append({**row, "readable": False, "reason": f"the value report is malformed ({exc})"})
            continue
        mine = [i for i, (a, _) in enumerate(payouts) if a == who]
        if tree is None or not mine:
            continue  # nothing for this account in this job
        if tree.root != root:
            out.append({**row, "readable": False, "reason": "the stored value report does not match the value root "
                                                            "recorded on-chain: nothing to claim from it"})
            continue
        out.append({**row, "readable": True, "amount_wei": str(payouts[mine[0]][1]),
                    "proof": ["0x" + p.hex() for p in tree.proof(mine[0])]})
    return out
