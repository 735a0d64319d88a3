"""`databright worker start`: stake on-chain, then serve coordinators until stopped.

A worker dials out: it finds each coordinator it serves on-chain (an approved coordinator's
published endpoint and the SHA-256 of its TLS certificate, which it pins), and holds one
authenticated session per (identity, coordinator). It never listens, so it works behind NAT.
Each identity is registered (or its stake topped up) before it is offered to any coordinator.
This module is the command's glue (chain look-ups, staking); the agent itself is `databright.worker`,
which knows nothing of the coordinator's code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from databright.chain.keys import signer
from databright.compute.errors import ComputeError
from databright.market import Market
from databright.market.compute import CoordinatorEndpoint
from databright.worker.agent import Endpoint
from databright.worker.host import Host

log = logging.getLogger("databright.worker")


@dataclass(frozen=True)
class StartedWorkers:
    host: Host
    endpoints: list[CoordinatorEndpoint]
    staked: dict[str, int]  # wei each identity sent now


def ensure_stake(market: Market, stake: int) -> int:
    """Registers the acting account as a worker, or tops its stake up to `stake`; returns what it sent."""
    compute = market.compute
    info = compute.worker(market.account)
    missing = max(stake, compute.min_stake) - (info.stake if info.registered else 0)
    if missing > 0:
        compute.register_worker(missing)
        return missing
    return 0


def coordinators(market: Market, coordinator: str | None) -> list[CoordinatorEndpoint]:
    """The coordinators to serve: `coordinator` (an address, or an endpoint some approved coordinator
    published), or by default every approved coordinator with a published endpoint."""
    compute = market.compute
    if coordinator is not None and Web3.is_address(coordinator):
        found = compute.coordinator_endpoint(coordinator)
        if found is None:
            raise ComputeError(f"{coordinator} is not an approved coordinator with a published endpoint")
        return [found]
    published = compute.coordinator_endpoints()
    if coordinator is not None:
        published = [e for e in published if e.url == coordinator.removeprefix("grpcs://")]
        if not published:
            raise ComputeError(f"no approved coordinator publishes the endpoint {coordinator}: there is no "
                               "certificate to pin, so it is not dialled")
    if not published:
        raise ComputeError("no approved coordinator has published an endpoint yet (`coordinator start` does)")
    return published


def start_workers(market: Market, accounts: list[str], stake: int, coordinator: str | None,
                  keys: list[LocalAccount] | None = None) -> StartedWorkers:
    """Stakes every identity, then starts one agent per (identity, coordinator). The identities' keys are
    the chain's dev keys of `accounts`, or `keys` (then `accounts` are their addresses)."""
    found = coordinators(market, coordinator)
    keys = keys if keys is not None else [signer(market.chain, a) for a in accounts]
    staked = {str(k.address): ensure_stake(market.as_account(str(k.address)), stake) for k in keys}
    endpoints = [Endpoint(e.url, e.cert_sha256, e.coordinator, market.chain.chain_id,
                          market.deployment.compute_market) for e in found]
    return StartedWorkers(Host(keys, endpoints).start(), found, staked)
