"""Shared fixtures and helpers for the titanoboa tests of the DataBright contracts.

Isolation: titanoboa's pytest plugin (registered through the ``pytest11`` entry point)
opens a ``boa.env.anchor()`` around every fixture setup and around every test call, and
patches hypothesis so that every ``@given`` example runs inside its own anchor as well. An
anchor snapshots the EVM state *and* the patchable block fields, so a test that mines
blocks or moves ether never leaks into the next one. Deployers are compiled once per
session; the association and request are deployed per test (a few milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boa
import pytest

CONTRACTS = Path(__file__).resolve().parents[2] / "src" / "databright" / "contracts"

E = 10**18
ZERO = "0x0000000000000000000000000000000000000000"
SUPPLY_CAP = 2**96 - 1
MAGNITUDE = 2**128

# default rules of the request fixture
QUORUM_BPS = 2000
APPROVAL_BPS = 5001
VOTING_PERIOD = 5
MAX_SHARES = 1000 * E
VALUE_SHARE_BPS = 5000
SPEC_CID = b"\x01" * 32
ALICE_SHARES = 100 * E
BOB_SHARES = 50 * E
BOOTSTRAP = ALICE_SHARES + BOB_SHARES

STATE_ACTIVE, STATE_DEFEATED, STATE_SUCCEEDED, STATE_EXECUTED = 1, 2, 3, 4
KIND_DATA, KIND_RULES = 1, 2


# ---------------------------------------------------------------- helpers


def mine(blocks: int = 1) -> None:
    """Advance the chain by `blocks` blocks."""
    boa.env.time_travel(blocks=blocks)


def block_number() -> int:
    return boa.env.evm.patch.block_number


def cid(i: int) -> bytes:
    """A deterministic non-zero 32-byte content id digest."""
    assert i >= 0
    return (i + 0x1000).to_bytes(32, "big")


def events(logs: list[Any], name: str) -> list[Any]:
    """The decoded events called `name` among `logs`."""
    return [e for e in logs if type(e).__name__ == name]


def only_event(logs: list[Any], name: str) -> Any:
    found = events(logs, name)
    assert len(found) == 1, f"expected exactly one {name}, got {logs}"
    return found[0]


def pack_rules(quorum: int, approval: int, period: int, max_shares: int, value_share: int = VALUE_SHARE_BPS) -> bytes:
    """The body of a rules proposal, as DataAssociation packs it."""
    word = quorum | (approval << 16) | (period << 32) | (max_shares << 64) | (value_share << 160)
    return word.to_bytes(32, "big")


def open_anchor(machine, initial_state):
    """For hypothesis state machines: enter an anchor for this example, then build its initial state.
    If that fails, the anchor is left at once: hypothesis calls teardown() only for a machine that was
    built, and a dangling anchor, reverted late by the garbage collector, would corrupt later tests."""
    machine._anchor = boa.env.anchor()
    machine._anchor.__enter__()
    try:
        initial_state()
    except BaseException:
        machine._anchor.__exit__(None, None, None)
        raise


# ---------------------------------------------------------------- deployers (compiled once)


@pytest.fixture(scope="session")
def token_deployer():
    return boa.load_partial(str(CONTRACTS / "CuratorToken.vy"))


@pytest.fixture(scope="session")
def database_deployer():
    return boa.load_partial(str(CONTRACTS / "Database.vy"))


@pytest.fixture(scope="session")
def association_deployer():
    return boa.load_partial(str(CONTRACTS / "DataAssociation.vy"))


# ---------------------------------------------------------------- accounts


@pytest.fixture(scope="session")
def make_account():
    """Factory: a fresh address holding `ether` ether (default 100). No boa alias is set, so
    storage dumps (``contract._storage``) keep checksum addresses as keys."""

    def _make(ether: int = 100):
        addr = boa.env.generate_address()
        boa.env.set_balance(addr, ether * E)
        return addr

    return _make


@pytest.fixture
def alice(make_account):
    return make_account()


@pytest.fixture
def bob(make_account):
    return make_account()


@pytest.fixture
def carol(make_account):
    return make_account()


@pytest.fixture
def dave(make_account):
    return make_account()


# ---------------------------------------------------------------- contracts


@pytest.fixture
def blueprints(token_deployer, database_deployer):
    return token_deployer.deploy_as_blueprint(), database_deployer.deploy_as_blueprint()


@pytest.fixture
def association(association_deployer, blueprints):
    return association_deployer.deploy(*blueprints)


@dataclass
class Request:
    """One data request: its registry (whose address identifies it) and share token."""

    db: Any  # Database contract
    token: Any  # CuratorToken contract
    computation: Any  # the createRequest computation, to decode its logs later

    @property
    def address(self):
        return self.db.address


@pytest.fixture
def create_request(association, token_deployer, database_deployer, alice):
    """Factory that opens a request and wraps its token and database."""

    def _create(
        curators,
        shares,
        quorum=QUORUM_BPS,
        approval=APPROVAL_BPS,
        period=VOTING_PERIOD,
        max_shares=MAX_SHARES,
        value_share=VALUE_SHARE_BPS,
        name="digits",
        symbol="DIG",
        spec=SPEC_CID,
        sender=None,
    ) -> Request:
        with boa.env.prank(sender or alice):
            db_addr = association.createRequest(
                name, symbol, spec, curators, shares, quorum, approval, period, max_shares, value_share
            )
        computation = association._computation
        token = token_deployer.at(association.tokenOf(db_addr))
        db = database_deployer.at(db_addr)
        return Request(db=db, token=token, computation=computation)

    return _create


@pytest.fixture
def request_(create_request, alice, bob):
    """The default request: alice holds 100 shares and bob 50; nobody has delegated yet."""
    return create_request([alice, bob], [ALICE_SHARES, BOB_SHARES])


@pytest.fixture
def token(request_):
    return request_.token


@pytest.fixture
def database(request_):
    return request_.db


@pytest.fixture
def voting(request_, alice, bob):
    """The default request after alice and bob delegated to themselves and a block passed."""
    for who in (alice, bob):
        with boa.env.prank(who):
            request_.token.delegate(who)
    mine()
    return request_


@pytest.fixture
def standalone_token(token_deployer, make_account):
    """A token whose association is a plain account (`minter`), to drive mint directly."""
    minter = make_account()
    t = token_deployer.deploy("Shares", "SHR", minter)
    return t, minter


# ---------------------------------------------------------------- compute market

MIN_STAKE = E  # minimum worker stake of the compute_market fixture
JOB_NONE, JOB_POSTED, JOB_ACCEPTED, JOB_COMPLETED, JOB_REFUNDED = 0, 1, 2, 3, 4


@pytest.fixture(scope="session")
def compute_market_deployer():
    return boa.load_partial(str(CONTRACTS / "ComputeMarket.vy"))


@pytest.fixture
def governance(make_account):
    return make_account()


@pytest.fixture
def compute_market(compute_market_deployer, association, governance):
    """A ComputeMarket on the `association` fixture, minimum stake MIN_STAKE."""
    return compute_market_deployer.deploy(association.address, MIN_STAKE, governance)


@pytest.fixture
def dataset(create_request, alice, bob):
    """A request whose token can take a data fee: alice and bob hold 150 shares (>= 1e18)."""
    return create_request([alice, bob], [ALICE_SHARES, BOB_SHARES], name="mnist", symbol="MNI")


@pytest.fixture
def tiny_dataset(create_request, alice):
    """A request with less than one whole share (1e17): its token refuses distribute()."""
    return create_request([alice], [E // 10], name="tiny", symbol="TNY")
