"""What the demo runs on: a store server in this process, and the digits split among people.

The store is the real one (encrypted blobs, HTTP, signed requests, rights read from the
chain), served from a thread on a free loopback port, so the demo takes the same path a user
of `databright store serve` does without anyone starting a server by hand.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits

from databright.chain.keys import signer
from databright.datasets import DatasetSpec
from databright.market import Market
from databright.store import BlobStore
from databright.store.client import StoreClient
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy

SPEC = DatasetSpec(name="handwritten digits 8x8", feature_shape=(8, 8), dtype="float64",
                   labels=tuple(range(10)), min_samples=50, max_bytes=16 * 2**20)
VALIDATION_SAMPLES = 297


@dataclass
class DemoStore:
    store: BlobStore | None  # None: a store server of the user's, which the demo cannot look inside
    url: str
    market: Market
    clients: dict[str, StoreClient] = field(default_factory=dict)

    def client(self, account: str) -> StoreClient:
        """A store client signing as `account` (a dev account of the demo's chain), one per account."""
        if account not in self.clients:
            self.clients[account] = StoreClient(self.url, signer(self.market.chain, account))
        return self.clients[account]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def blob_count(self) -> int | None:
        return None if self.store is None else sum(1 for _ in self.store.list())


@contextmanager
def demo_store(market: Market, url: str | None = None) -> Iterator[DemoStore]:
    """The store the demo writes to: the server at `url` (a `databright store serve` on the same chain,
    which outlives the demo, so `databright serve` can show its reports afterwards), else one served
    from this process for the demo's duration."""
    if url is not None:
        external = DemoStore(None, url, market)
        try:
            yield external
        finally:
            external.close()
        return
    root = Path(tempfile.mkdtemp(prefix="databright-demo-store-"))
    server_log = logging.getLogger("databright.store.server")
    level = server_log.level
    server_log.setLevel(logging.ERROR)  # the demo prints each refusal itself
    try:
        store = BlobStore(root)
        app = create_app(store, ChainAccessPolicy(market, store=store))
        with ServerThread(app) as server:
            demo = DemoStore(store, server.url, market)
            try:
                yield demo
            finally:
                demo.close()
    finally:
        server_log.setLevel(level)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class DigitsSplit:
    validation: tuple[Any, Any]
    contributions: list[tuple[Any, Any]]


def split_digits(parts: int, seed: int = 7) -> DigitsSplit:
    """scikit-learn's bundled digits: a held-out validation set, the rest in `parts` slices."""
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    val, rest = order[:VALIDATION_SAMPLES], order[VALIDATION_SAMPLES:]
    slices = np.array_split(rest, parts)
    images = digits.images  # (n, 8, 8): the CNN the buyer trains sees them as pictures
    return DigitsSplit((images[val], digits.target[val]), [(images[s], digits.target[s]) for s in slices])


def seeded_request(market: Market, store: DemoStore, contributions: list[tuple[Any, Any]],
                   curator: int = 1, contributors: tuple[int, ...] = (4, 5, 6, 7)) -> str:
    """A digits request whose registry already holds `contributions` (proposed by `contributors`,
    passed by one curator holding every share): the starting point of the compute benches and tests."""
    from databright.chain.contracts import Rules
    from databright.datasets.validate import validate_arrays
    from databright.market.data import publish_spec
    from databright.market.units import UNIT

    accounts = market.chain.accounts()
    spec_cid, _ = publish_spec(store.client(accounts[0]), SPEC)
    info = market.as_account(0).create_request("digits", "D", spec_cid, {accounts[curator]: 100 * UNIT},
                                               Rules(3000, 5001, 2, 100 * UNIT))
    market.as_account(curator).delegate(info.database)  # votes count from the next block on
    market.chain.mine(1)
    proposals = []
    for who, (x, y) in zip(contributors, contributions, strict=False):
        ds = validate_arrays(x, y, SPEC)
        cid = store.client(accounts[who]).upload_bytes(ds.to_bytes())
        proposals.append(market.as_account(who).propose(info.database, cid, ds.n, UNIT))
        market.as_account(curator).vote(proposals[-1], True)
    market.chain.mine(3)
    for pid in proposals:
        market.execute(pid)
    return info.database
