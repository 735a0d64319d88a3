"""One market world for the store-server tests: every role and every kind of blob, on a real server.

Built once per test package (deploying the market takes seconds) on the embedded chain, and
served by a real uvicorn server (`ServerThread`) over loopback. Tests that change on-chain
rights put them back, so every test sees the world as described here:

    request R1 "digits": spec S1 naming validation set V1, curators a1 (delegated to itself) and
                         a2 (delegated to a3, so a2 has no power and a3 has a2's)
    a4 uploads D and U and proposes D to R1; a5 uploads D2, which a7 proposes to R1
    request R2 "other": spec S2, curator a8 with power (none in R1)
    a6 is the approved coordinator (a fake registry); a0, the initiator, uploaded S1, V1, S2
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from databright.chain.connection import reset_embedded
from databright.chain.contracts import Rules
from databright.chain.keys import signer
from databright.datasets.spec import DatasetSpec
from databright.market import Market
from databright.market.units import UNIT
from databright.store import BlobStore
from databright.store.client import StoreClient
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy

RULES = Rules(quorum_bps=2000, approval_bps=5001, voting_period=50, max_shares=100 * UNIT)
MAX_UPLOAD = 8 << 20


class FakeCoordinators:
    """Stands in for the ComputeMarket's registry of approved coordinators."""

    def __init__(self, *addresses: str) -> None:
        self.approved = set(addresses)
        self.asked: list[str] = []

    def is_approved(self, address: str) -> bool:
        self.asked.append(address)
        return address in self.approved


@dataclass
class World:
    market: Market
    store: BlobStore
    policy: ChainAccessPolicy
    coordinators: FakeCoordinators
    server: ServerThread
    accounts: dict[str, str]  # role -> address
    blobs: dict[str, str]  # kind -> CID
    data: dict[str, bytes]  # kind -> content
    r1: str
    r2: str

    @property
    def url(self) -> str:
        return self.server.url

    def signer(self, role: str) -> Any:
        return signer(self.market.chain, self.accounts[role])

    def client(self, role: str) -> StoreClient:
        return StoreClient(self.url, self.signer(role))

    def as_role(self, role: str) -> Market:
        return self.market.as_account(self.accounts[role])


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reset_embedded()
    market = Market.open("embedded")
    a = market.chain.accounts()
    roles = {"initiator": a[0], "curator": a[1], "delegated_away": a[2], "delegate": a[3], "contributor": a[4],
             "stranger": a[5], "coordinator": a[6], "proposer": a[7], "other_curator": a[8]}
    store = BlobStore(tmp_path_factory.mktemp("store-server") / "store")
    coordinators = FakeCoordinators(roles["coordinator"])
    policy = ChainAccessPolicy(market, coordinators, store=store)
    with ServerThread(create_app(store, policy, MAX_UPLOAD)) as server:
        def up(role: str, data: bytes) -> str:
            with StoreClient(server.url, signer(market.chain, roles[role])) as client:
                return client.upload_bytes(data)

        data = {"validation": b"validation samples " * 100, "data": b"contributed samples " * 100,
                "unproposed": b"not proposed yet " * 100, "data2": b"proposed by someone else " * 50}
        blobs = {"validation": up("initiator", data["validation"])}
        spec = DatasetSpec(name="digits", feature_shape=(4,), labels=(0, 1), validation_cid=blobs["validation"])
        data["spec"] = spec.to_bytes()
        blobs["spec"] = up("initiator", data["spec"])
        data["spec2"] = DatasetSpec(name="other", feature_shape=(2,), labels=(0, 1)).to_bytes()
        blobs["spec2"] = up("initiator", data["spec2"])
        r1 = market.create_request("digits", "DIG", blobs["spec"],
                                   {roles["curator"]: 100 * UNIT, roles["delegated_away"]: 50 * UNIT}, RULES).database
        r2 = market.create_request("other", "OTH", blobs["spec2"], {roles["other_curator"]: 10 * UNIT}, RULES).database
        market.as_account(roles["curator"]).delegate(r1)
        market.as_account(roles["delegated_away"]).delegate(r1, roles["delegate"])
        market.as_account(roles["other_curator"]).delegate(r2)
        blobs["data"] = up("contributor", data["data"])
        blobs["unproposed"] = up("contributor", data["unproposed"])
        market.as_account(roles["contributor"]).propose(r1, blobs["data"], 100, 5 * UNIT)
        blobs["data2"] = up("stranger", data["data2"])
        market.as_account(roles["proposer"]).propose(r1, blobs["data2"], 50, 5 * UNIT)
        yield World(market, store, policy, coordinators, server, roles, blobs, data, r1, r2)


@pytest.fixture
def w(world: World) -> World:
    """The package's world, reached through a function-scoped fixture (see tests/conftest.py)."""
    return world


def blob_names(store: BlobStore) -> list[str]:
    return sorted(store.list())


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
