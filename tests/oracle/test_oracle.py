"""The oracle against a real store server and chain: its votes, reasons, restarts and power."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from databright.chain.connection import reset_embedded
from databright.chain.contracts import Rules
from databright.chain.keys import signer
from databright.datasets.validate import validate_arrays
from databright.demo.environment import SPEC, split_digits
from databright.market import Market
from databright.market.data import publish_spec
from databright.market.units import UNIT
from databright.oracle import Oracle
from databright.store import BlobStore
from databright.store.client import StoreClient
from databright.store.errors import AccessDenied
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy

DIGITS = split_digits(4)


@dataclass
class World:
    market: Market
    url: str
    database: str
    tmp: Path

    def client(self, account: int) -> StoreClient:
        return StoreClient(self.url, signer(self.market.chain, self.market.chain.accounts()[account]))

    def propose(self, account: int, x: np.ndarray, y: np.ndarray, shares: float) -> int:  # type: ignore[type-arg]
        ds = validate_arrays(x, y, SPEC)
        with self.client(account) as store:
            cid = store.upload_bytes(ds.to_bytes())
        return self.market.as_account(account).propose(self.database, cid, ds.n, int(shares * UNIT))

    def oracle(self) -> Oracle:
        return Oracle(self.market.as_account(9), self.client(9), [self.database], self.tmp / "oracle.json")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    reset_embedded()
    market = Market.open("embedded")
    a = market.chain.accounts()
    store = BlobStore(tmp_path / "store")
    with ServerThread(create_app(store, ChainAccessPolicy(market, store=store))) as server:
        val = tmp_path / "val.npz"
        np.savez(val, x=DIGITS.validation[0], y=DIGITS.validation[1])
        with StoreClient(server.url, signer(market.chain, a[0])) as client:
            spec_cid, _ = publish_spec(client, SPEC, val)
        info = market.create_request("digits", "D", spec_cid, {a[1]: 100 * UNIT, a[2]: 50 * UNIT},
                                     Rules(3000, 5001, 30, 100 * UNIT))
        market.as_account(1).delegate(info.database, a[9])  # curator 1 trusts the oracle
        market.as_account(2).delegate(info.database)
        yield World(market, server.url, info.database, tmp_path)


def test_votes_by_value_with_reasons(world: World) -> None:
    (x0, y0), (x1, y1), (x2, y2), _ = DIGITS.contributions
    good = world.propose(4, x0, y0, 30)
    shuffled = world.propose(5, x1, np.random.default_rng(0).permutation(y1), 30)
    greedy = world.propose(6, x2, y2, 100)
    votes = {v.proposal_id: v for v in world.oracle().run_once()}
    assert votes[good].support and votes[good].weight == 100 * UNIT
    assert not votes[shuffled].support and "label noise" in votes[shuffled].reason
    assert not votes[greedy].support and "asks 100.00 shares, fair is" in votes[greedy].reason
    on_chain = world.market.association.votes(good)
    assert on_chain[0].reason.startswith("oracle yes") and votes[good].report_cid in on_chain[0].reason
    with world.client(2) as curator:  # a curator with votes reads the report named in the vote's reason
        report = curator.get_bytes(votes[good].report_cid)
    assert b'"support": true' in report and b'"noise_fraction"' in report
    with world.client(8) as stranger, pytest.raises(AccessDenied):
        stranger.get_bytes(votes[good].report_cid)
    world.market.chain.mine(31)
    world.market.execute(good)
    duplicate = world.propose(7, x0[:200], y0[:200], 5)
    [dup_vote] = world.oracle().run_once()
    assert dup_vote.proposal_id == duplicate and not dup_vote.support and "duplicates 100%" in dup_vote.reason


def test_restart_never_votes_twice_and_skips_closed(world: World) -> None:
    (x0, y0), *_ = DIGITS.contributions
    first = world.propose(4, x0, y0, 10)
    assert [v.proposal_id for v in world.oracle().run_once()] == [first]
    assert world.oracle().run_once() == []  # restarted from its state file
    (world.tmp / "oracle.json").unlink()
    assert world.oracle().run_once() == []  # even without it: the chain says it voted
    late = world.propose(5, *DIGITS.contributions[1], 10)
    world.market.chain.mine(31)
    fresh = world.oracle()
    assert fresh.run_once() == [] and "voting over" in fresh.decided[late]


def test_power_follows_delegation(world: World) -> None:
    world.market.as_account(1).undelegate(world.database)
    pid = world.propose(4, *DIGITS.contributions[0], 10)
    oracle = world.oracle()
    assert oracle.run_once() == [] and "no power" in oracle.decided[pid]
    assert not world.market.association.has_voted(pid, world.market.chain.accounts()[9])
    world.market.as_account(2).delegate(world.database, world.market.chain.accounts()[9])
    later = world.propose(5, *DIGITS.contributions[1], 10)
    [vote] = oracle.run_once()
    assert (vote.proposal_id, vote.weight) == (later, 50 * UNIT)


def test_unreachable_store_backs_off_and_keeps_running(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.propose(4, *DIGITS.contributions[0], 10)
    oracle = Oracle(world.market.as_account(9), StoreClient("http://127.0.0.1:9", signer(world.market.chain,
                    world.market.chain.accounts()[9])), [world.database], world.tmp / "o.json")
    sleeps: list[float] = []
    oracle.run(poll=1.0, should_stop=lambda: len(sleeps) >= 3, sleep=sleeps.append)
    assert sleeps == [2.0, 4.0, 8.0]
    assert "cannot reach the store server" in caplog.text
    assert oracle.decided == {}  # nothing decided without the data, and no crash


def test_unreachable_chain_backs_off(world: World, caplog: pytest.LogCaptureFixture) -> None:
    from web3 import Web3

    from databright.chain.connection import Chain

    dead = Chain(Web3(Web3.HTTPProvider("http://127.0.0.1:9")), "http://127.0.0.1:9", world.market.account)
    oracle = Oracle(Market(dead, world.market.deployment), world.client(9), [world.database], world.tmp / "o.json")
    sleeps: list[float] = []
    oracle.run(poll=0.5, should_stop=lambda: len(sleeps) >= 4, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert "chain or store unreachable" in caplog.text
