"""`ChainAccessPolicy` on its own (no HTTP): the rules, their reasons, and rights that change."""

from __future__ import annotations

import pytest

from databright.cid import cid_for_bytes
from databright.datasets.spec import DatasetSpec
from databright.market.units import UNIT
from databright.store.server.access import ChainAccessPolicy, Decision, NoCoordinators, StaticCoordinators
from databright.store.server.uploads import UploadIndex

from .conftest import RULES, World


def test_reasons_name_the_right(w: World) -> None:
    check, a, b = w.policy.check_read, w.accounts, w.blobs
    assert check(a["stranger"], b["spec"]) == Decision(True, f"spec of request {w.r1}: readable by any signed account")
    assert check(a["contributor"], b["unproposed"]) == Decision(True, "uploader of this blob")
    assert check(a["proposer"], b["data2"]).reason.startswith("contributor: proposer of data proposal #")
    assert check(a["coordinator"], b["validation"]) == Decision(True, "approved coordinator")
    assert check(a["delegate"], b["data"]) == Decision(True, f"voting power in request {w.r1}")
    denied = check(a["delegated_away"], b["validation"])
    assert not denied.allowed
    assert f"the validation set of request {w.r1}" in denied.reason and "no voting power" in denied.reason
    unreferenced = check(a["curator"], b["unproposed"])
    assert not unreferenced.allowed and "only its uploader" in unreferenced.reason


def test_contributor_is_the_proposer_even_when_someone_else_uploaded(w: World) -> None:
    assert w.policy.check_read(w.accounts["proposer"], w.blobs["data2"]).allowed
    assert w.policy.check_read(w.accounts["stranger"], w.blobs["data2"]).allowed  # its uploader
    assert not w.policy.check_read(w.accounts["contributor"], w.blobs["data2"]).allowed


def test_power_counts_only_in_the_request_the_blob_belongs_to(w: World) -> None:
    other = w.accounts["other_curator"]
    assert w.market.holding(w.r2, other).votes > 0
    assert not w.policy.check_read(other, w.blobs["data"]).allowed
    assert not w.policy.check_read(other, w.blobs["validation"]).allowed


def test_any_spelling_of_address_and_cid_gives_the_same_answer(w: World) -> None:
    from multiformats import CID

    base58 = str(CID.decode(w.blobs["data"]).encode("base58btc"))
    assert w.policy.check_read(w.accounts["curator"].lower(), base58).allowed


def test_rights_follow_the_chain_at_the_time_of_the_read(w: World) -> None:
    """Delegation moves the right at once; a new proposal is seen without rescanning everything."""
    curator, stranger = w.accounts["curator"], w.accounts["stranger"]
    as_curator = w.as_role("curator")
    assert w.policy.check_read(curator, w.blobs["validation"]).allowed
    as_curator.delegate(w.r1, stranger)
    try:
        assert not w.policy.check_read(curator, w.blobs["validation"]).allowed
        assert w.policy.check_read(stranger, w.blobs["validation"]).allowed
    finally:
        as_curator.delegate(w.r1)
    assert w.policy.check_read(curator, w.blobs["validation"]).allowed
    assert not w.policy.check_read(stranger, w.blobs["validation"]).allowed

    late = w.store.put_bytes(b"proposed after the index was built")
    UploadIndex(w.store.root).record(late, w.accounts["contributor"])
    assert not w.policy.check_read(curator, late).allowed
    scanned = w.policy._index.scanned_to
    w.as_role("contributor").propose(w.r1, late, 10, UNIT)
    assert w.policy.check_read(curator, late).allowed
    assert w.policy._index.scanned_to > scanned


def test_validation_set_is_learnt_when_the_spec_reaches_the_store(w: World) -> None:
    """A request may be opened before its spec is uploaded; its validation set is protected from then on."""
    validation = w.store.put_bytes(b"a validation set uploaded late")
    UploadIndex(w.store.root).record(validation, w.accounts["initiator"])
    spec = DatasetSpec(name="late", feature_shape=(3,), labels=(0, 1), validation_cid=validation).to_bytes()
    db = w.market.create_request("late", "LAT", cid_for_bytes(spec), {w.accounts["curator"]: UNIT}, RULES).database
    w.as_role("curator").delegate(db)
    curator = w.accounts["curator"]
    assert "not referenced on-chain" in w.policy.check_read(curator, validation).reason
    w.store.put_bytes(spec)
    assert w.policy.check_read(curator, validation) == Decision(True, f"voting power in request {db}")
    assert not w.policy.check_read(w.accounts["stranger"], validation).allowed


def test_a_malformed_spec_only_means_no_validation_set(w: World, caplog: pytest.LogCaptureFixture) -> None:
    junk = w.store.put_bytes(b'{"not": "a spec"}')
    w.market.create_request("junk", "JNK", junk, {w.accounts["curator"]: UNIT}, RULES)
    assert w.policy.check_read(w.accounts["stranger"], junk).allowed  # still a spec: anyone may read it
    assert "gives no validation set" in caplog.text


def test_default_registry_approves_nobody_and_the_plug_is_asked(w: World) -> None:
    assert not NoCoordinators().is_approved(w.accounts["coordinator"])
    policy = ChainAccessPolicy(w.market.chain, store=w.store)  # from a bare Chain, default registry
    assert not policy.check_read(w.accounts["coordinator"], w.blobs["data"]).allowed
    assert policy.check_read(w.accounts["curator"], w.blobs["data"]).allowed
    w.coordinators.asked.clear()
    assert w.policy.check_read(w.accounts["coordinator"], w.blobs["data"]).allowed
    assert w.coordinators.asked == [w.accounts["coordinator"]]
    static = ChainAccessPolicy(w.market, StaticCoordinators([w.accounts["stranger"].lower()]), store=w.store)
    assert static.check_read(w.accounts["stranger"], w.blobs["validation"]) == Decision(True, "approved coordinator")
    assert not static.check_read(w.accounts["stranger"], w.blobs["unproposed"]).allowed  # coordinators too


def test_upload_index_keeps_every_uploader(tmp_path: object, w: World) -> None:
    index = UploadIndex(w.store.root)
    cid = cid_for_bytes(b"shared content")
    index.record(cid, w.accounts["stranger"].lower())
    index.record(cid, w.accounts["curator"])
    index.record(cid, w.accounts["stranger"])
    assert index.uploaders(cid) == [w.accounts["stranger"], w.accounts["curator"]]
    assert index.is_uploader(cid, w.accounts["curator"].lower())
    index.close()
