"""Database: the append-only registry of one data request."""

from __future__ import annotations

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import SPEC_CID, ZERO, block_number, cid, mine, only_event

MAX48 = 2**48 - 1
MAX128 = 2**128 - 1


@pytest.fixture
def appender(association):
    """The only address allowed to append: the association."""
    return association.address


def append(database, appender, *args):
    with boa.env.prank(appender):
        return database.append(*args)


def test_metadata(database, token, association):
    assert database.name() == "digits"
    assert database.specCid() == SPEC_CID
    assert database.token() == token.address
    assert database.ASSOCIATION() == association.address
    assert database.entryCount() == 0


def test_constructor_rejects_zero_association(database_deployer, alice):
    with boa.reverts("database: zero association"):
        database_deployer.deploy("x", SPEC_CID, alice, ZERO)


def test_append_only_by_association(database, token, alice):
    for sender in (alice, token.address):
        with boa.env.prank(sender), boa.reverts("database: caller is not the association"):
            database.append(cid(1), alice, 10, 5, 1)
    assert database.entryCount() == 0


def test_append(database, appender, alice, bob):
    b = block_number()
    assert append(database, appender, cid(1), alice, 10, 5, 7) == 0
    ev = only_event(database.get_logs(), "EntryAppended")
    assert (ev.index, ev.cid, ev.contributor, ev.samples, ev.shares, ev.proposalId) == (
        0,
        cid(1),
        alice,
        10,
        5,
        7,
    )
    mine(3)
    assert append(database, appender, cid(2), bob, 20, 6, 9) == 1
    assert database.entryCount() == 2
    assert database.entry(0) == (cid(1), alice, 10, 5, 7, b)
    assert database.entry(1) == (cid(2), bob, 20, 6, 9, b + 3)
    assert database.indexOf(cid(1)) == 1
    assert database.indexOf(cid(2)) == 2
    assert database.indexOf(cid(3)) == 0


def test_append_duplicate_cid(database, appender, alice, bob):
    append(database, appender, cid(1), alice, 10, 5, 1)
    with boa.reverts("database: duplicate cid"):
        append(database, appender, cid(1), bob, 11, 6, 2)
    assert database.entryCount() == 1
    assert database.entry(0) == (cid(1), alice, 10, 5, 1, block_number())


def test_append_empty_cid(database, appender, alice):
    with boa.reverts("database: empty cid"):
        append(database, appender, b"\x00" * 32, alice, 10, 5, 1)


@pytest.mark.parametrize(
    "samples, shares, proposal_id",
    [(MAX48 + 1, 1, 1), (1, MAX128 + 1, 1), (1, 1, MAX128 + 1), (2**256 - 1, 1, 1)],
)
def test_append_values_out_of_range(database, appender, alice, samples, shares, proposal_id):
    with boa.reverts("database: value out of range"):
        append(database, appender, cid(1), alice, samples, shares, proposal_id)


def test_append_extreme_values_round_trip(database, appender):
    top = "0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF"
    append(database, appender, b"\xff" * 32, top, MAX48, MAX128, MAX128)
    append(database, appender, cid(0), ZERO, 0, 0, 0)
    assert database.entry(0) == (b"\xff" * 32, top, MAX48, MAX128, MAX128, block_number())
    assert database.entry(1) == (cid(0), ZERO, 0, 0, 0, block_number())


def test_entry_out_of_range(database, appender, alice):
    with boa.reverts("database: no such entry"):
        database.entry(0)
    append(database, appender, cid(1), alice, 1, 1, 1)
    database.entry(0)
    for i in (1, 2, 2**256 - 1):
        with boa.reverts("database: no such entry"):
            database.entry(i)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    digest=st.binary(min_size=32, max_size=32).filter(lambda b: any(b)),
    contributor=st.binary(min_size=20, max_size=20),
    samples=st.integers(0, MAX48),
    shares=st.integers(0, MAX128),
    proposal_id=st.integers(0, MAX128),
    blocks=st.integers(0, 2**40),
)
def test_entry_fields_round_trip(database, appender, digest, contributor, samples, shares, proposal_id, blocks):
    mine(blocks)
    who = boa.util.abi.Address(contributor)
    assert append(database, appender, digest, who, samples, shares, proposal_id) == 0
    assert database.entry(0) == (digest, who, samples, shares, proposal_id, block_number())
    assert database.indexOf(digest) == 1
