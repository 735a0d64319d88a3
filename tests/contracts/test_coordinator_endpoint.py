"""ComputeMarket's coordinator endpoints (issue 15): an approved coordinator publishes where its
workers dial it and the SHA-256 of its TLS certificate (which workers pin); anyone reads it."""

from __future__ import annotations

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import only_event

KEY = "0x000000000000000000000000000000000000bEEF"
CERT = bytes(range(32))
URL = "10.0.0.1:7443"
NOT_COORDINATOR = "compute: not an approved coordinator"
EMPTY = ("", b"\x00" * 32)


def approve(cm, governance, account) -> None:
    with boa.env.prank(governance):
        cm.approveCoordinator(account, KEY, b"\x0a" * 32)


def test_an_approved_coordinator_publishes_its_endpoint(compute_market, governance, alice, bob):
    cm = compute_market
    assert cm.coordinatorEndpoint(alice) == EMPTY
    approve(cm, governance, alice)
    with boa.env.prank(alice):
        cm.setCoordinatorEndpoint(URL, CERT)
    ev = only_event(cm.get_logs(), "CoordinatorEndpointSet")
    assert (ev.account, ev.url, ev.certSha256) == (alice, URL, CERT)
    assert cm.coordinatorEndpoint(alice) == (URL, CERT)
    assert cm.coordinatorEndpoint(bob) == EMPTY  # one record per coordinator
    # publishing again (a move, a renewed certificate) replaces both
    with boa.env.prank(alice):
        cm.setCoordinatorEndpoint("coord.example:443", b"\x01" * 32)
    assert cm.coordinatorEndpoint(alice) == ("coord.example:443", b"\x01" * 32)
    assert cm.MAX_ENDPOINT() == 256


def test_only_an_approved_coordinator_may_publish(compute_market, governance, alice, bob):
    cm = compute_market
    with boa.env.prank(alice), boa.reverts(NOT_COORDINATOR):
        cm.setCoordinatorEndpoint(URL, CERT)  # never approved
    approve(cm, governance, alice)
    with boa.env.prank(governance), boa.reverts(NOT_COORDINATOR):
        cm.setCoordinatorEndpoint(URL, CERT)  # governance cannot publish for it
    with boa.env.prank(alice):
        cm.setCoordinatorEndpoint(URL, CERT)
    with boa.env.prank(governance):
        cm.revokeCoordinator(alice)
    with boa.env.prank(alice), boa.reverts(NOT_COORDINATOR):
        cm.setCoordinatorEndpoint("elsewhere:1", CERT)  # revoked
    assert cm.coordinatorEndpoint(alice) == (URL, CERT)  # the last record stays readable
    assert not cm.isCoordinator(alice)
    assert cm.coordinatorEndpoint(bob) == EMPTY


def test_bad_values_are_refused(compute_market, governance, alice):
    cm = compute_market
    approve(cm, governance, alice)
    with boa.env.prank(alice), boa.reverts("compute: empty endpoint"):
        cm.setCoordinatorEndpoint("", CERT)
    with boa.env.prank(alice), boa.reverts("compute: zero certificate hash"):
        cm.setCoordinatorEndpoint(URL, b"\x00" * 32)
    with boa.env.prank(alice), pytest.raises(Exception):  # noqa: B017 - the ABI refuses it before the contract
        cm.setCoordinatorEndpoint("x" * 257, CERT)
    assert cm.coordinatorEndpoint(alice) == EMPTY


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=256),
       cert=st.binary(min_size=32, max_size=32).filter(lambda b: any(b)))
def test_any_endpoint_within_bounds_round_trips(compute_market, governance, alice, url, cert):
    cm = compute_market
    if not cm.isCoordinator(alice):
        approve(cm, governance, alice)
    with boa.env.prank(alice):
        cm.setCoordinatorEndpoint(url, cert)
    assert cm.coordinatorEndpoint(alice) == (url, cert)
