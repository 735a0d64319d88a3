"""Read rights that come from the ComputeMarket: coordinators approved on-chain, buyers' job outputs.

On the package's world (see conftest.py), with a policy whose coordinator registry is the
deployment's ComputeMarket (the default): a9 is approved as coordinator by governance (a0),
a7 works, and two jobs on request R1 are completed — one bought by a5 ("stranger"), one by
a4 ("contributor"). Revocations are undone before the test ends, as the world requires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from databright.chain.keys import signer
from databright.compute.attestation import approve
from databright.market.compute import ComputeClient
from databright.market.units import UNIT
from databright.store.client import StoreClient
from databright.store.errors import AccessDenied
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy, ChainCoordinators

from .conftest import MAX_UPLOAD, World


@dataclass
class Jobs:
    policy: ChainAccessPolicy
    gov: ComputeClient
    coordinator: str
    ids: dict[str, int]  # buyer role -> job id
    blobs: dict[str, str]  # "spec:<role>", "result:<role>", "report:<role>" -> CID
    data: dict[str, bytes]


def _up(w: World, account: str, data: bytes) -> str:
    with StoreClient(w.url, signer(w.market.chain, account)) as client:
        return client.upload_bytes(data)


@pytest.fixture(scope="module")
def jobs(world: World) -> Iterator[Jobs]:
    w = world
    chain = w.market.chain
    gov = w.market.compute  # the initiator deployed the market, so it governs
    coordinator = chain.accounts()[9]
    approve(gov, coordinator, coordinator)
    gov.as_account(w.accounts["proposer"]).register_worker(UNIT)
    ids: dict[str, int] = {}
    blobs: dict[str, str] = {}
    data: dict[str, bytes] = {}
    as_coordinator = gov.as_account(coordinator)
    for role in ("stranger", "contributor"):
        buyer = w.accounts[role]
        data[f"spec:{role}"] = f'{{"job spec of": "{role}"}}'.encode()
        blobs[f"spec:{role}"] = _up(w, buyer, data[f"spec:{role}"])
        job = gov.as_account(buyer).post_job(w.r1, blobs[f"spec:{role}"], 0, UNIT, chain.now() + 3600)
        as_coordinator.accept_job(job)
        as_coordinator.assign_workers(job, [w.accounts["proposer"]])
        for kind in ("result", "report"):
            data[f"{kind}:{role}"] = f"{kind} of job {job} for {role}".encode()
            blobs[f"{kind}:{role}"] = _up(w, coordinator, data[f"{kind}:{role}"])
        as_coordinator.complete_job(job, blobs[f"result:{role}"], hashlib.sha256(b"m").digest(),
                                    blobs[f"report:{role}"], {w.accounts["proposer"]: 3})
        ids[role] = job
    policy = ChainAccessPolicy(w.market, store=w.store, uploads=w.policy.uploads)
    yield Jobs(policy, gov, coordinator, ids, blobs, data)


def test_the_chain_is_the_default_coordinator_registry(w: World, jobs: Jobs) -> None:
    assert isinstance(jobs.policy.coordinators, ChainCoordinators)
    assert jobs.policy.coordinators.is_approved(jobs.coordinator.lower())
    assert not jobs.policy.coordinators.is_approved(w.accounts["coordinator"])  # only the fake registry's


def test_an_approved_coordinator_reads_every_blob_named_on_chain(w: World, jobs: Jobs) -> None:
    check = jobs.policy.check_read
    for blob in (w.blobs["data"], w.blobs["data2"], w.blobs["validation"], jobs.blobs["spec:stranger"],
                 jobs.blobs["spec:contributor"]):
        assert check(jobs.coordinator, blob).reason == "approved coordinator", blob
    assert not check(jobs.coordinator, w.blobs["unproposed"]).allowed  # named nowhere: its uploader only


def test_a_revoked_coordinator_is_refused_at_once(w: World, jobs: Jobs) -> None:
    jobs.gov.revoke_coordinator(jobs.coordinator)
    try:
        for blob in (w.blobs["data"], w.blobs["validation"], jobs.blobs["spec:stranger"]):
            decision = jobs.policy.check_read(jobs.coordinator, blob)
            assert not decision.allowed, blob
        refused = jobs.policy.check_read(jobs.coordinator, jobs.blobs["spec:stranger"])
        assert f"the spec of job #{jobs.ids['stranger']} (readable by its uploader)" in refused.reason
    finally:
        approve(jobs.gov, jobs.coordinator, jobs.coordinator)
    assert jobs.policy.check_read(jobs.coordinator, w.blobs["data"]).allowed


def test_a_buyer_reads_its_jobs_result_and_report_but_no_one_elses(w: World, jobs: Jobs) -> None:
    check, stranger, contributor = jobs.policy.check_read, w.accounts["stranger"], w.accounts["contributor"]
    job = jobs.ids["stranger"]
    assert check(stranger, jobs.blobs["result:stranger"]).reason == f"buyer of job #{job}: its result"
    assert check(stranger, jobs.blobs["report:stranger"]).reason == f"buyer of job #{job}: its report"
    assert check(contributor, jobs.blobs["result:contributor"]).allowed
    for blob in ("result:contributor", "report:contributor"):
        denied = check(stranger, jobs.blobs[blob])
        assert not denied.allowed
        assert f"of job #{jobs.ids['contributor']} (readable by its buyer)" in denied.reason
    assert not check(w.accounts["curator"], jobs.blobs["result:stranger"]).allowed  # voting power is no right here


def test_a_job_spec_is_for_its_uploader_and_coordinators_not_for_whoever_names_it(w: World, jobs: Jobs) -> None:
    """Posting a job that names someone's blob as its spec gives no right to read that blob."""
    check, stranger = jobs.policy.check_read, w.accounts["stranger"]
    assert check(stranger, jobs.blobs["spec:stranger"]).reason == "uploader of this blob"
    assert not check(stranger, jobs.blobs["spec:contributor"]).allowed
    private = _up(w, w.accounts["contributor"], b"the contributor's private notes")
    sneaky = jobs.gov.as_account(stranger).post_job(w.r1, private, 0, UNIT, w.market.chain.now() + 60)
    decision = check(stranger, private)
    assert not decision.allowed and f"the spec of job #{sneaky}" in decision.reason


def test_over_http_the_buyer_downloads_its_result(w: World, jobs: Jobs) -> None:
    with ServerThread(create_app(w.store, jobs.policy, MAX_UPLOAD)) as server:
        with StoreClient(server.url, w.signer("stranger")) as client:
            assert client.get_bytes(jobs.blobs["result:stranger"]) == jobs.data["result:stranger"]
            with pytest.raises(AccessDenied, match="403"):
                client.get_bytes(jobs.blobs["report:contributor"])
        with StoreClient(server.url, signer(w.market.chain, jobs.coordinator)) as client:
            assert client.get_bytes(jobs.blobs["spec:contributor"]) == jobs.data["spec:contributor"]


def test_a_value_report_is_for_the_jobs_buyer_its_datasets_contributors_and_voters(w: World, jobs: Jobs) -> None:
    """A job's value report says what each contributor's data earned: the buyer, the dataset's
    contributors (proposers), its curators and delegates with voting power and coordinators read
    it; a stranger to the dataset does not."""
    chain, a = w.market.chain, w.accounts
    as_coordinator = jobs.gov.as_account(jobs.coordinator)
    job = jobs.gov.as_account(a["stranger"]).post_job(w.r1, jobs.blobs["spec:stranger"], UNIT, UNIT, chain.now() + 3600)
    as_coordinator.accept_job(job)
    as_coordinator.assign_workers(job, [a["proposer"]])
    value = _up(w, jobs.coordinator, b'{"value report": "of the job"}')
    as_coordinator.complete_job(job, jobs.blobs["result:stranger"], hashlib.sha256(b"m").digest(),
                                jobs.blobs["report:stranger"], {a["proposer"]: 1}, value, {a["contributor"]: UNIT // 4})
    check = jobs.policy.check_read
    assert check(a["stranger"], value).reason == f"buyer of job #{job}: its value report"
    assert check(a["contributor"], value).reason == f"contributor to request {w.r1}: the value report of its job"
    assert check(a["proposer"], value).allowed  # a contributor of the dataset, paid by value or not
    assert check(a["curator"], value).reason == f"voting power in request {w.r1}"
    assert check(jobs.coordinator, value).allowed  # its uploader, and an approved coordinator
    refused = check(a["other_curator"], value)
    assert not refused.allowed and f"a value report of request {w.r1} (readable by its contributors)" in refused.reason
