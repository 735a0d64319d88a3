"""What a browser wallet needs from the dashboard: one account's standing, the contracts' ABIs, the market.

The dashboard never acts for anyone: a visitor's wallet signs every transaction in the browser.
What the server adds is reading. `account` answers, for any address, what the chain says it holds
(shares, votes and delegate per request, dividends it may withdraw, whether it voted on each open
proposal and with what weight, its pull balance and earnings as a worker), read at one block under
the dashboard's lock like every page, so the browser can show numbers that come from the chain and
refresh them when a block is mined, not from what the visitor clicked. `abi` hands out the compiled
contracts' ABIs (`chain.artifacts`), so the browser encodes calls from the very ABI the Python
client uses, and `market` names the chain and the addresses the wallet is to talk to.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from databright.chain.artifacts import CONTRACT_NAMES, load_artifacts
from databright.dashboard.core import Dashboard
from databright.dashboard.errors import BadInput, NotFound

ZERO = "0x" + "0" * 40

# the chains a visitor's wallet is most likely on by mistake, named in the wrong-chain notice
KNOWN_CHAINS = {1: "Ethereum mainnet", 10: "OP Mainnet", 56: "BNB Smart Chain", 137: "Polygon", 8453: "Base",
                42161: "Arbitrum One", 11155111: "Sepolia", 17000: "Holesky", 31337: "a local dev chain (anvil)"}


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
    }
