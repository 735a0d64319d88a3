"""`ComputeClient` against the real ComputeMarket, on the embedded chain and on anvil.

The whole life of jobs through the API the coordinator, workers and CLI use: workers stake,
governance approves a coordinator after (dev) attestation, a buyer escrows fees, the
coordinator accepts, assigns, slashes and settles; the data fee reaches the dataset's
shareholders as dividends and the compute fee the workers by units; an expired job is
refunded. Mistakes are refused before sending (ConfigError / ComputeError) and the chain's
refusals arrive as ComputeRevert with the contract's reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import pytest

from databright.chain.compute_market import JobState
from databright.chain.connection import Chain, connect, embedded_web3, reset_embedded
from databright.chain.contracts import Rules
from databright.chain.deployment import deploy, load_deployment
from databright.cid import cid_for_bytes
from databright.compute.attestation import DevAttestation, SgxDcapVerifier, approve
from databright.compute.errors import AttestationError, ComputeError
from databright.config import home
from databright.errors import CidError, ComputeRevert, ConfigError
from databright.market import Market
from databright.market.compute import ComputeClient
from databright.market.units import UNIT

RULES = Rules(quorum_bps=2000, approval_bps=5001, voting_period=6, max_shares=100 * UNIT)
SPEC = cid_for_bytes(b'{"model": "mlp", "epochs": 1}')
RESULT, REPORT, EVIDENCE = cid_for_bytes(b"model weights"), cid_for_bytes(b"report"), cid_for_bytes(b"evidence")
MODEL_HASH = hashlib.sha256(b"model weights").digest()
HOUR = 3600


@dataclass
class World:
    market: Market
    database: str
    gov: ComputeClient
    buyer: ComputeClient
    coordinator: ComputeClient
    workers: list[ComputeClient]
    curators: list[str]

    @property
    def chain(self) -> Chain:
        return self.market.chain

    def post(self, data_fee: int = 3 * UNIT, compute_fee: int = UNIT, ttl: int = HOUR) -> int:
        return self.buyer.post_job(self.database, SPEC, data_fee, compute_fee, self.chain.now() + ttl)

    def accepted(self, workers: int = 2, **post: int) -> int:
        job = self.post(**post)
        self.coordinator.accept_job(job)
        self.coordinator.assign_workers(job, [w.account for w in self.workers[:workers]])
        return job

    def contract_holds_exactly_its_books(self) -> None:
        escrow, stakes, owed = self.gov.market.totals()
        assert self.chain.balance(self.gov.address) == escrow + stakes + owed


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def w(request: pytest.FixtureRequest) -> World:
    if request.param == "embedded":
        reset_embedded()
        market = Market.open("embedded")
    else:
        chain = connect(request.getfixturevalue("anvil_rpc"))
        market = Market(chain, deploy(chain))
    a = market.chain.accounts()
    database = market.create_request("digits", "DIG", cid_for_bytes(b"spec"), {a[1]: 100 * UNIT, a[2]: 50 * UNIT},
                                     RULES).database
    compute = market.compute
    workers = [compute.as_account(i) for i in (4, 5, 6)]
    for i, worker in enumerate(workers):
        worker.register_worker((i + 1) * UNIT)
    coordinator = compute.as_account(7)
    approve(compute, coordinator.account, a[8], DevAttestation())
    return World(market, database, compute, compute.as_account(3), coordinator, workers, [a[1], a[2]])


def _gas_of(chain: Chain, block: str = "latest") -> int:
    """Wei spent on gas by the one transaction of `block` (every dev chain here mines one per block)."""
    [tx] = chain.w3.eth.get_block(block)["transactions"]
    receipt = chain.w3.eth.get_transaction_receipt(tx)
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


class TestLifecycle:
    def test_completion_pays_shareholders_pro_rata_and_workers_by_units(self, w: World) -> None:
        w1, w2, w3 = w.workers
        job = w.post(data_fee=3 * UNIT, compute_fee=UNIT + 1)
        posted = w.gov.job(job)
        assert (posted.buyer, posted.database, posted.spec_cid, posted.state) == (
            w.buyer.account, w.database, SPEC, JobState.POSTED)
        assert (posted.data_fee, posted.compute_fee, posted.coordinator, posted.result_cid) == (3 * UNIT, UNIT + 1,
                                                                                              None, None)
        w.coordinator.accept_job(job)
        w.coordinator.assign_workers(job, [w1.account, w2.account, w3.account])
        assert [w.gov.worker(x.account).open_jobs for x in w.workers] == [1, 1, 1]
        with pytest.raises(ComputeRevert, match="compute: worker is assigned to an open job"):
            w1.leave()

        assert w.coordinator.slash(job, w3.account, EVIDENCE) == 3 * UNIT  # its whole stake, for the buyer
        assert w.gov.slashes(job) == [(job, w3.account, 3 * UNIT, EVIDENCE)]
        assert w.buyer.balance() == 3 * UNIT
        assert not w.gov.worker(w3.account).registered
        with pytest.raises(ComputeRevert, match="compute: worker was slashed"):
            w.coordinator.complete_job(job, RESULT, MODEL_HASH, REPORT, {w3.account: 1})

        paid = w.coordinator.complete_job(job, RESULT, MODEL_HASH, REPORT, {w1.account: 1, w2.account: 2})
        share1, share2 = (UNIT + 1) // 3, (UNIT + 1) * 2 // 3
        assert paid == {w1.account: share1, w2.account: share2} == w.gov.payouts(job)
        assert w.buyer.balance() == 3 * UNIT + (UNIT + 1 - share1 - share2)  # slashed stake + rounding dust
        done = w.gov.job(job)
        assert (done.state, done.coordinator, done.result_cid, done.report_cid, done.total_units) == (
            JobState.COMPLETED, w.coordinator.account, RESULT, REPORT, 3)
        assert done.model_hash == hashlib.sha256(b"model weights").hexdigest()
        assert done.workers == [w1.account, w2.account, w3.account]
        assert [w.gov.units_of(job, x.account) for x in w.workers] == [1, 2, 0]
        assert [w.gov.worker(x.account).open_jobs for x in w.workers] == [0, 0, 0]
        # the data fee went to the dataset's token: 100:50 shares, each may lose 1 wei to rounding
        dividends = [w.market.holding(w.database, c).withdrawable for c in w.curators]
        assert 2 * UNIT - 1 <= dividends[0] <= 2 * UNIT and UNIT - 1 <= dividends[1] <= UNIT
        assert w.gov.earnings(w2.account) == share2
        w.contract_holds_exactly_its_books()
        with pytest.raises(ComputeRevert, match="compute: job not accepted"):
            w.coordinator.complete_job(job, RESULT, MODEL_HASH, REPORT, {w1.account: 1})

        assert w1.leave() == UNIT
        assert w1.balance() == UNIT + share1
        before = w.chain.balance(w1.account)
        assert w1.withdraw() == UNIT + share1
        assert w.chain.balance(w1.account) == before + UNIT + share1 - _gas_of(w.chain)
        assert w1.balance() == 0
        with pytest.raises(ComputeRevert, match="compute: nothing to withdraw"):
            w1.withdraw()
        w.contract_holds_exactly_its_books()

    def test_expired_job_is_refunded_to_its_buyer(self, w: World) -> None:
        job = w.accepted(workers=2, data_fee=UNIT, compute_fee=2 * UNIT, ttl=100)
        with pytest.raises(ComputeRevert, match="compute: deadline not reached"):
            w.gov.refund(job)
        start = w.chain.now()
        assert w.chain.advance_time(101) >= start + 101
        with pytest.raises(ComputeRevert, match="compute: deadline passed"):
            w.coordinator.complete_job(job, RESULT, MODEL_HASH, REPORT, {w.workers[0].account: 1})
        assert w.gov.refund(job) == 3 * UNIT  # anyone may ask; the buyer is credited
        assert w.gov.job(job).state is JobState.REFUNDED
        assert [w.gov.worker(x.account).open_jobs for x in w.workers] == [0, 0, 0]
        assert w.buyer.balance() == 3 * UNIT and w.gov.balance() == 0
        with pytest.raises(ComputeRevert, match="compute: job already settled"):
            w.gov.refund(job)
        late = w.post(ttl=50)
        w.chain.advance_time(51)
        with pytest.raises(ComputeRevert, match="compute: deadline passed"):
            w.coordinator.accept_job(late)
        assert w.buyer.refund(late) == 4 * UNIT
        assert w.buyer.withdraw() == 7 * UNIT
        w.contract_holds_exactly_its_books()

    def test_jobs_are_listed_and_followed(self, w: World) -> None:
        start = int(w.chain.w3.eth.block_number) + 1
        first = w.post()
        second = w.gov.as_account(1).post_job(w.database, SPEC, 0, UNIT, w.chain.now() + HOUR)
        ids, latest = w.coordinator.posted_since(start)
        assert ids == [first, second] and latest == w.chain.w3.eth.block_number
        assert w.coordinator.posted_since(latest + 1) == ([], latest)
        w.coordinator.accept_job(first)
        assert [j.id for j in w.gov.jobs()] == [first, second] and w.gov.job_count() == 2
        assert [j.id for j in w.gov.jobs(buyer=w.buyer.account)] == [first]
        assert [j.id for j in w.gov.jobs(state=JobState.POSTED)] == [second]
        assert w.gov.jobs(buyer=w.curators[1]) == []
        with pytest.raises(ComputeError, match="no job #3: there are 2"):
            w.gov.job(3)

    def test_workers_are_everyone_who_ever_registered(self, w: World) -> None:
        w1, w2, w3 = w.workers
        assert w2.register_worker(UNIT // 2).stake == 2 * UNIT + UNIT // 2  # a top-up needs no minimum
        w3.leave()
        found = {x.address: x for x in w.gov.workers()}
        assert list(found) == [w1.account, w2.account, w3.account]
        assert (found[w3.account].registered, found[w3.account].stake) == (False, 0)
        assert found[w2.account].stake == 5 * UNIT // 2 and w.gov.min_stake == UNIT


class TestRefusals:
    def test_mistakes_are_refused_before_anything_is_sent(self, w: World) -> None:
        block = w.chain.w3.eth.block_number
        deadline = w.chain.now() + HOUR
        with pytest.raises(ConfigError, match="must be an address"):
            w.buyer.post_job("0x1234", SPEC, 0, UNIT, deadline)
        with pytest.raises(ComputeError, match="the data fee must not be negative"):
            w.buyer.post_job(w.database, SPEC, -1, UNIT, deadline)
        with pytest.raises(ComputeError, match="must pay something"):
            w.buyer.post_job(w.database, SPEC, 0, 0, deadline)
        with pytest.raises(ComputeError, match="not in the future"):
            w.buyer.post_job(w.database, SPEC, 0, UNIT, w.chain.now())
        with pytest.raises(CidError, match="the job spec: not a CID"):
            w.buyer.post_job(w.database, "bogus", 0, UNIT, deadline)
        with pytest.raises(ComputeError, match="at least the minimum"):
            w.gov.as_account(9).register_worker(UNIT - 1)
        with pytest.raises(ComputeError, match="more than 0"):
            w.gov.as_account(9).register_worker(0)
        with pytest.raises(ComputeError, match="listed twice"):
            w.coordinator.assign_workers(1, [w.workers[0].account, w.workers[0].account.lower()])
        with pytest.raises(ComputeError, match="job ids are whole numbers from 1"):
            w.coordinator.accept_job(0)
        with pytest.raises(ComputeError, match="model hash is 32 bytes"):
            w.coordinator.complete_job(1, RESULT, b"short", REPORT, {w.workers[0].account: 1})
        with pytest.raises(ComputeError, match="at least one worker"):
            w.coordinator.complete_job(1, RESULT, MODEL_HASH, REPORT, {})
        with pytest.raises(ComputeError, match="must not be negative"):
            w.coordinator.complete_job(1, RESULT, MODEL_HASH, REPORT, {w.workers[0].account: -1})
        with pytest.raises(AttestationError, match="32 bytes"):
            w.gov.approve_coordinator(w.curators[0], w.curators[0], b"\x01")
        assert w.chain.w3.eth.block_number == block  # nothing reached the chain

    def test_the_chain_refuses_what_only_it_can_judge(self, w: World) -> None:
        deadline = w.chain.now() + HOUR
        with pytest.raises(ComputeRevert, match="compute: unknown database") as info:
            w.buyer.post_job(w.curators[0], SPEC, 0, UNIT, deadline)
        assert info.value.exit_code == 4
        tiny = w.market.create_request("tiny", "TNY", cid_for_bytes(b"t"), {w.curators[0]: UNIT // 10}, RULES)
        with pytest.raises(ComputeRevert, match="compute: dataset has no shareholders"):
            w.buyer.post_job(tiny.database, SPEC, 1, UNIT, deadline)
        job = w.post()
        with pytest.raises(ComputeRevert, match="compute: not an approved coordinator"):
            w.buyer.accept_job(job)
        with pytest.raises(ComputeRevert, match="compute: caller is not governance"):
            w.buyer.approve_coordinator(w.buyer.account, w.buyer.account, bytes(32))
        w.coordinator.accept_job(job)
        with pytest.raises(ComputeRevert, match="compute: job not posted"):
            w.coordinator.accept_job(job)
        with pytest.raises(ComputeRevert, match="compute: worker not registered"):
            w.coordinator.assign_workers(job, [w.curators[0]])
        w.coordinator.assign_workers(job, [w.workers[0].account])
        with pytest.raises(ComputeRevert, match="compute: worker already assigned"):
            w.coordinator.assign_workers(job, [w.workers[0].account])
        with pytest.raises(ComputeRevert, match="compute: caller is not the job's coordinator"):
            w.buyer.slash(job, w.workers[0].account, EVIDENCE)
        with pytest.raises(ComputeRevert, match="compute: no verified units"):
            w.coordinator.complete_job(job, RESULT, MODEL_HASH, REPORT, {w.workers[0].account: 0})
        w.gov.revoke_coordinator(w.coordinator.account)
        with pytest.raises(ComputeRevert, match="compute: not an approved coordinator"):
            w.coordinator.complete_job(job, RESULT, MODEL_HASH, REPORT, {w.workers[0].account: 1})
        w.contract_holds_exactly_its_books()


class TestCoordinators:
    def test_approval_records_the_verified_quote_and_revocation_is_immediate(self, w: World) -> None:
        who, key = w.coordinator.account, w.chain.accounts()[8]
        info = w.gov.coordinator(who)
        quote = DevAttestation.quote(who, key)
        assert quote == b"databright-dev-attestation:" + who.encode() + key.encode()
        assert (info.signing_key, info.quote_hash, info.approved) == (key, hashlib.sha256(quote).hexdigest(), True)
        assert w.gov.is_coordinator(who) and w.gov.governance() == w.gov.account
        w.gov.revoke_coordinator(who)
        assert not w.gov.is_coordinator(who) and w.gov.coordinator(who).signing_key == key  # record kept
        with pytest.raises(ComputeRevert, match="compute: not an approved coordinator"):
            w.gov.revoke_coordinator(who)
        again = approve(w.gov, who, who, DevAttestation(), DevAttestation.quote(who, who))
        assert again.approved and again.signing_key == who and again.approved_block > info.approved_block

    def test_verifiers_refuse_what_they_cannot_vouch_for(self, w: World) -> None:
        who, key = w.curators
        dev = DevAttestation()
        with pytest.raises(AttestationError, match="does not describe"):
            dev.verify(who, key, DevAttestation.quote(who, who))
        with pytest.raises(AttestationError, match="not a dev attestation quote"):
            approve(w.gov, who, key, dev, b"\x03\x00\x02\x00 an SGX quote")
        with pytest.raises(AttestationError, match="Intel's quote verification library"):
            approve(w.gov, who, key, SgxDcapVerifier(), b"\x03\x00\x02\x00 an SGX quote")
        with pytest.raises(AttestationError, match="needs the coordinator's attestation quote"):
            approve(w.gov, who, key, SgxDcapVerifier())
        assert not w.gov.is_coordinator(who)
        assert len(SgxDcapVerifier().quote_hash(b"q")) == 32


def test_market_exposes_the_compute_client_per_account() -> None:
    reset_embedded()
    market = Market.open("embedded")
    a = market.chain.accounts()
    assert market.compute.address == market.deployment.compute_market
    assert market.as_account(3).compute.account == a[3] and market.compute.account == a[0]
    assert market.compute.governance() == a[0]


def test_clock_moves_only_forward() -> None:
    reset_embedded()
    chain = connect("embedded")
    start = chain.now()
    assert chain.advance_time(3600) == start + 3600
    assert chain.now() == start + 3600
    with pytest.raises(ConfigError, match="at least one second"):
        chain.advance_time(0)


def test_a_record_without_compute_market_is_stale() -> None:
    """A deployment recorded by an older DataBright names no compute market: redeploy, do not guess."""
    reset_embedded()
    real = connect("embedded")
    current = deploy(real)
    # the same chain seen as a node (not embedded), so its record on disk is what counts
    as_node = Chain(embedded_web3(), "http://127.0.0.1:1", real.account)
    path = home() / "deployments" / f"{real.chain_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_text(json.dumps(asdict(current)))
        assert load_deployment(as_node) == current
        old = asdict(current)
        del old["compute_market"]
        path.write_text(json.dumps(old))
        with pytest.raises(ConfigError, match=r"stale: it predates the compute_market.*redeploy"):
            load_deployment(as_node)
        path.write_text(json.dumps({**asdict(current), "compute_market": "0x" + "12" * 20}))
        with pytest.raises(ConfigError, match="not on this chain any more"):
            load_deployment(as_node)
    finally:
        path.unlink(missing_ok=True)
