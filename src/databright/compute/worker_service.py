"""`databright worker start`: stake on-chain, then serve as a named Ray actor until stopped.

With `--ray ADDRESS` the worker joins that cluster (its actor lives there, detached, so it outlives
this command's connection). Without it a local Ray instance is started here, and this process must
stay up: the local cluster ends with it. Either way the worker's account is the acting account,
and it is registered (or its stake topped up) before it is offered to any coordinator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from databright.compute.pool import (
    WorkerHandle,
    cluster_address,
    ensure_ray,
    is_alive,
    kill_worker,
    record_cluster,
    recorded_cluster,
    spawn_worker,
)
from databright.compute.worker import Fault
from databright.market import Market

log = logging.getLogger("databright.worker")


@dataclass(frozen=True)
class StartedWorker:
    handle: WorkerHandle
    ray_address: str
    staked: int


def ensure_stake(market: Market, stake: int) -> int:
    """Registers the acting account as a worker, or tops its stake up to `stake`; returns what it sent."""
    compute = market.compute
    info = compute.worker(market.account)
    missing = max(stake, compute.min_stake) - (info.stake if info.registered else 0)
    if missing > 0:
        compute.register_worker(missing)
        return missing
    return 0


def start_worker(market: Market, stake: int, ray_address: str | None = None, fault: str | None = None) -> StartedWorker:
    """Stakes, then joins `ray_address`, else the local cluster an earlier `worker start` opened, else
    opens one (and records it so that the next workers and the coordinator find it)."""
    Fault.parse(fault)  # a bad flag is refused before anything is staked
    staked = ensure_stake(market, stake)
    joined = ray_address or recorded_cluster()
    ensure_ray(joined)
    if joined is None:
        record_cluster(cluster_address())
    handle = spawn_worker(market.account, fault=fault, detached=joined is not None)
    return StartedWorker(handle, cluster_address(), staked)


def serve_until_stopped(worker: StartedWorker, should_stop: Callable[[], bool] = lambda: False,
                        poll: float = 5.0) -> None:
    """Keeps this process (and with it a local Ray instance) alive while the actor lives."""
    try:
        while not should_stop():
            if not is_alive(worker.handle, timeout=30):
                log.error("worker %s stopped answering", worker.handle.address)
                return
            time.sleep(poll)
    finally:
        kill_worker(worker.handle)
