"""`ComputeClient`'s coordinator endpoints on the embedded chain: published by the coordinator itself,
found by workers (only approved ones), bad values refused before anything is sent."""

from __future__ import annotations

import pytest

from databright.chain.connection import reset_embedded
from databright.compute.attestation import DevAttestation, approve
from databright.errors import ComputeRevert, ConfigError
from databright.market import Market

PIN = "ab" * 32


def test_a_coordinator_publishes_and_workers_find_only_approved_ones() -> None:
    reset_embedded()
    market = Market.open("embedded")
    a = market.chain.accounts()
    compute = market.compute
    first, second = compute.as_account(7), compute.as_account(8)
    approve(compute, first.account, first.account, DevAttestation())
    approve(compute, second.account, second.account, DevAttestation())
    assert compute.coordinator_endpoints() == []
    first.set_coordinator_endpoint("10.0.0.1:7443", PIN)
    second.set_coordinator_endpoint("10.0.0.2:7443", "0x" + "cd" * 32)
    found = compute.coordinator_endpoints()
    assert [(e.coordinator, e.url, e.cert_sha256) for e in found] == [
        (a[7], "10.0.0.1:7443", PIN), (a[8], "10.0.0.2:7443", "cd" * 32)]
    first.set_coordinator_endpoint("10.0.0.9:7443", PIN)  # moved: the newest record, listed once
    compute.revoke_coordinator(second.account)
    assert [(e.coordinator, e.url) for e in compute.coordinator_endpoints()] == [(a[7], "10.0.0.9:7443")]
    assert compute.coordinator_endpoint(a[8]) is None  # revoked: not offered to workers
    with pytest.raises(ComputeRevert, match="not an approved coordinator"):
        compute.as_account(9).set_coordinator_endpoint("10.0.0.3:1", PIN)
    for url, pin in (("no-port", PIN), ("host:0", PIN), ("host:99999", PIN), ("h:1", "00"), ("h:1", "zz" * 32),
                     ("x" * 300 + ":1", PIN)):
        with pytest.raises(ConfigError):
            first.set_coordinator_endpoint(url, pin)
