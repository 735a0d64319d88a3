"""ComputeMarket: governance, coordinators, worker stakes, job escrow, assignment, slashing,
completion with pro rata pay and the data fee to the dataset's shareholders, refunds, pull
withdrawals. Every test ends with the solvency identity checked by `solvent()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boa
import pytest

from .conftest import (
    ALICE_SHARES,
    BOB_SHARES,
    BOOTSTRAP,
    JOB_ACCEPTED,
    JOB_COMPLETED,
    JOB_NONE,
    JOB_POSTED,
    JOB_REFUNDED,
    MIN_STAKE,
    ZERO,
    E,
    block_number,
    cid,
    events,
    only_event,
)

KEY = "0x000000000000000000000000000000000000bEEF"
QUOTE = b"\x0a" * 32
SPEC = cid(100)
RESULT, MODEL, REPORT, EVIDENCE = cid(101), cid(102), cid(103), cid(104)
DATA_FEE = 3 * E
COMPUTE_FEE = 10 * E + 1  # not divisible by 6 units: leaves dust
HOUR = 3600
ZERO32 = b"\x00" * 32
NO_VALUE = (ZERO32, ZERO32, 0)

NOT_GOVERNANCE = "compute: caller is not governance"
NOT_COORDINATOR = "compute: not an approved coordinator"
NOT_JOB_COORDINATOR = "compute: caller is not the job's coordinator"
NOT_ACCEPTED = "compute: job not accepted"
DEADLINE_PASSED = "compute: deadline passed"
UNKNOWN_JOB = "compute: unknown job"


# ---------------------------------------------------------------- helpers


def now() -> int:
    return boa.env.evm.patch.timestamp


def travel(seconds: int) -> None:
    boa.env.time_travel(seconds=seconds)


def solvent(cm) -> None:
    """The contract holds exactly its escrow, the stakes, the unwithdrawn pull balances and the
    unclaimed value payouts."""
    unclaimed = sum(cm.jobValue(j)[2] for j in range(1, cm.jobCount() + 1))
    assert boa.env.get_balance(cm.address) == cm.totalEscrow() + cm.totalStake() + cm.totalOwed() + unclaimed


def approve(cm, governance, account, key=KEY, quote=QUOTE) -> None:
    with boa.env.prank(governance):
        cm.approveCoordinator(account, key, quote)


def register(cm, who, stake=MIN_STAKE) -> None:
    with boa.env.prank(who):
        cm.registerWorker(value=stake)


def post(cm, buyer, db, data_fee=DATA_FEE, compute_fee=COMPUTE_FEE, deadline=None, spec=SPEC) -> int:
    with boa.env.prank(buyer):
        return cm.postJob(db, spec, data_fee, now() + HOUR if deadline is None else deadline,
                          value=data_fee + compute_fee)


def accept(cm, coord, job_id) -> None:
    with boa.env.prank(coord):
        cm.acceptJob(job_id)


def assign(cm, coord, job_id, workers) -> None:
    with boa.env.prank(coord):
        cm.assignWorkers(job_id, workers)


def slash(cm, coord, job_id, worker, evidence=EVIDENCE) -> None:
    with boa.env.prank(coord):
        cm.slash(job_id, worker, evidence)


def complete(cm, coord, job_id, workers, units, result=RESULT, model=MODEL, report=REPORT, value=NO_VALUE) -> None:
    """Completes with `value` = (root, value report cid, value total); by default nothing is
    paid by value (valuation off), so the whole data fee goes to the dividends."""
    with boa.env.prank(coord):
        cm.completeJob(job_id, result, model, report, workers, units, *value)


def refund(cm, job_id, caller) -> None:
    with boa.env.prank(caller):
        cm.refund(job_id)


def stake_of(cm, who) -> int:
    return cm.worker(who)[0]


def open_jobs(cm, who) -> int:
    return cm.worker(who)[1]


@dataclass
class Market:
    cm: Any
    governance: str
    coord: str  # an approved coordinator
    other: str  # another approved coordinator
    buyer: str
    workers: list[str]  # three registered workers with MIN_STAKE each
    db: str  # a dataset whose token can take the data fee
    token: Any


@pytest.fixture
def market(compute_market, governance, dataset, make_account) -> Market:
    return make_market(compute_market, governance, dataset, make_account)


def make_market(compute_market, governance, dataset, make_account) -> Market:
    """Two approved coordinators, a buyer and three registered workers on `compute_market`."""
    coord, other, buyer = make_account(), make_account(), make_account(1000)
    workers = [make_account() for _ in range(3)]
    approve(compute_market, governance, coord)
    approve(compute_market, governance, other)
    for w in workers:
        register(compute_market, w)
    return Market(compute_market, governance, coord, other, buyer, workers, dataset.address, dataset.token)


@pytest.fixture
def posted(market) -> int:
    return post(market.cm, market.buyer, market.db)


@pytest.fixture
def accepted(market, posted) -> int:
    accept(market.cm, market.coord, posted)
    return posted


@pytest.fixture
def running(market, accepted) -> int:
    """An accepted job with the three workers assigned."""
    assign(market.cm, market.coord, accepted, market.workers)
    return accepted


# ---------------------------------------------------------------- deployment


def test_constructor(compute_market, association, governance):
    cm = compute_market
    assert cm.ASSOCIATION() == association.address
    assert cm.minStake() == MIN_STAKE
    assert cm.governance() == governance
    assert cm.jobCount() == 0
    assert cm.MAX_JOB_WORKERS() == 128
    assert (cm.JOB_NONE(), cm.JOB_POSTED(), cm.JOB_ACCEPTED(), cm.JOB_COMPLETED(), cm.JOB_REFUNDED()) == (
        JOB_NONE,
        JOB_POSTED,
        JOB_ACCEPTED,
        JOB_COMPLETED,
        JOB_REFUNDED,
    )
    assert (cm.totalEscrow(), cm.totalStake(), cm.totalOwed()) == (0, 0, 0)
    solvent(cm)


@pytest.mark.parametrize(
    ("which", "message"),
    [("association", "compute: zero association"), ("stake", "compute: zero minimum stake"),
     ("governance", "compute: zero governance")],
)
def test_constructor_rejects(compute_market_deployer, association, governance, which, message):
    args = {"association": association.address, "stake": MIN_STAKE, "governance": governance}
    args[which] = ZERO if which != "stake" else 0
    with boa.reverts(message):
        compute_market_deployer.deploy(args["association"], args["stake"], args["governance"])


def test_plain_ether_is_refused(compute_market, alice):
    comp = boa.env.execute_code(to_address=compute_market.address, sender=alice, value=E)
    assert comp.is_error
    assert boa.env.get_balance(compute_market.address) == 0


# ---------------------------------------------------------------- governance


def test_transfer_governance(compute_market, governance, alice, bob):
    cm = compute_market
    with boa.env.prank(governance):
        cm.transferGovernance(alice)
    ev = only_event(cm.get_logs(), "GovernanceTransferred")
    assert (ev.previous, ev.new) == (governance, alice)
    assert cm.governance() == alice
    with boa.env.prank(governance), boa.reverts(NOT_GOVERNANCE):
        cm.approveCoordinator(bob, KEY, QUOTE)
    approve(cm, alice, bob)
    assert cm.isCoordinator(bob)


def test_transfer_governance_rejects(compute_market, governance, alice):
    with boa.env.prank(alice), boa.reverts(NOT_GOVERNANCE):
        compute_market.transferGovernance(alice)
    with boa.env.prank(governance), boa.reverts("compute: zero governance"):
        compute_market.transferGovernance(ZERO)
    assert compute_market.governance() == governance


def test_approve_coordinator(compute_market, governance, alice):
    cm = compute_market
    assert cm.coordinator(alice) == (ZERO, b"\x00" * 32, 0, False)
    assert not cm.isCoordinator(alice)
    approve(cm, governance, alice)
    ev = only_event(cm.get_logs(), "CoordinatorApproved")
    assert (ev.account, ev.signingKey, ev.quoteHash) == (alice, KEY, QUOTE)
    assert cm.coordinator(alice) == (KEY, QUOTE, block_number(), True)
    assert cm.isCoordinator(alice)
    # re-approval (a new attestation) replaces the record
    boa.env.time_travel(blocks=3)
    new_key = "0x000000000000000000000000000000000000cafE"
    approve(cm, governance, alice, key=new_key, quote=b"\x00" * 32)
    assert cm.coordinator(alice) == (new_key, b"\x00" * 32, block_number(), True)


def test_approve_coordinator_rejects(compute_market, governance, alice):
    with boa.env.prank(alice), boa.reverts(NOT_GOVERNANCE):
        compute_market.approveCoordinator(alice, KEY, QUOTE)
    with boa.env.prank(governance), boa.reverts("compute: zero account"):
        compute_market.approveCoordinator(ZERO, KEY, QUOTE)
    with boa.env.prank(governance), boa.reverts("compute: zero signing key"):
        compute_market.approveCoordinator(alice, ZERO, QUOTE)
    assert not compute_market.isCoordinator(alice)


def test_revoke_coordinator(compute_market, governance, alice):
    cm = compute_market
    approve(cm, governance, alice)
    approved_at = block_number()
    with boa.env.prank(governance):
        cm.revokeCoordinator(alice)
    assert only_event(cm.get_logs(), "CoordinatorRevoked").account == alice
    assert not cm.isCoordinator(alice)
    assert cm.coordinator(alice) == (KEY, QUOTE, approved_at, False)  # the record is kept
    with boa.env.prank(governance), boa.reverts(NOT_COORDINATOR):
        cm.revokeCoordinator(alice)  # twice


def test_revoke_coordinator_rejects(compute_market, governance, alice, bob):
    with boa.env.prank(governance), boa.reverts(NOT_COORDINATOR):
        compute_market.revokeCoordinator(bob)  # never approved
    approve(compute_market, governance, alice)
    with boa.env.prank(alice), boa.reverts(NOT_GOVERNANCE):
        compute_market.revokeCoordinator(alice)
    assert compute_market.isCoordinator(alice)


# ---------------------------------------------------------------- workers


def test_register_worker(compute_market, alice):
    cm = compute_market
    assert cm.worker(alice) == (0, 0, False)
    register(cm, alice, MIN_STAKE)
    ev = only_event(cm.get_logs(), "WorkerRegistered")
    assert (ev.worker, ev.stake) == (alice, MIN_STAKE)
    assert cm.worker(alice) == (MIN_STAKE, 0, True)
    assert cm.totalStake() == MIN_STAKE
    solvent(cm)
    # a registered worker tops up with any positive amount, even below the minimum
    register(cm, alice, 5)
    assert only_event(cm.get_logs(), "WorkerRegistered").stake == MIN_STAKE + 5
    assert cm.worker(alice) == (MIN_STAKE + 5, 0, True)
    assert cm.totalStake() == MIN_STAKE + 5
    solvent(cm)


def test_register_worker_rejects(compute_market, alice, make_account):
    cm = compute_market
    with boa.env.prank(alice), boa.reverts("compute: stake below minimum"):
        cm.registerWorker(value=MIN_STAKE - 1)
    with boa.env.prank(alice), boa.reverts("compute: stake below minimum"):
        cm.registerWorker()
    register(cm, alice)
    with boa.env.prank(alice), boa.reverts("compute: no stake sent"):
        cm.registerWorker()
    whale = make_account()
    boa.env.set_balance(whale, 2**129)
    with boa.env.prank(whale), boa.reverts("compute: stake out of range"):
        cm.registerWorker(value=2**128)
    register(cm, whale, 2**128 - 1)
    with boa.env.prank(whale), boa.reverts("compute: stake out of range"):
        cm.registerWorker(value=1)
    solvent(cm)


def test_leave(compute_market, alice):
    cm = compute_market
    register(cm, alice, 2 * E)
    with boa.env.prank(alice):
        cm.leave()
    ev = only_event(cm.get_logs(), "WorkerLeft")
    assert (ev.worker, ev.stake) == (alice, 2 * E)
    assert cm.worker(alice) == (0, 0, False)
    assert cm.balanceOf(alice) == 2 * E
    assert (cm.totalStake(), cm.totalOwed()) == (0, 2 * E)
    solvent(cm)
    with boa.env.prank(alice), boa.reverts("compute: not a registered worker"):
        cm.leave()
    # it may come back
    register(cm, alice)
    assert cm.worker(alice) == (MIN_STAKE, 0, True)
    solvent(cm)


def test_leave_rejects_unregistered(compute_market, alice):
    with boa.env.prank(alice), boa.reverts("compute: not a registered worker"):
        compute_market.leave()


def test_leave_blocked_while_assigned(market, running):
    cm, w = market.cm, market.workers[0]
    assert open_jobs(cm, w) == 1
    with boa.env.prank(w), boa.reverts("compute: worker is assigned to an open job"):
        cm.leave()
    complete(cm, market.coord, running, market.workers, [1, 1, 1])
    assert open_jobs(cm, w) == 0
    with boa.env.prank(w):
        cm.leave()
    assert cm.balanceOf(w) > MIN_STAKE  # its stake plus its pay
    solvent(cm)


# ---------------------------------------------------------------- postJob


def test_post_job(market):
    cm, buyer = market.cm, market.buyer
    deadline = now() + HOUR
    before = boa.env.get_balance(buyer)
    job_id = post(cm, buyer, market.db, deadline=deadline)
    assert job_id == 1
    ev = only_event(cm.get_logs(), "JobPosted")
    assert (ev.jobId, ev.buyer, ev.database, ev.specCid, ev.dataFee, ev.computeFee, ev.deadline) == (
        1, buyer, market.db, SPEC, DATA_FEE, COMPUTE_FEE, deadline)
    assert cm.job(1) == (buyer, market.db, SPEC, DATA_FEE, COMPUTE_FEE, deadline, ZERO, JOB_POSTED)
    assert cm.jobCount() == 1
    assert cm.totalEscrow() == DATA_FEE + COMPUTE_FEE
    assert boa.env.get_balance(buyer) == before - DATA_FEE - COMPUTE_FEE
    solvent(cm)
    assert post(cm, buyer, market.db) == 2
    assert cm.jobCount() == 2
    assert cm.totalEscrow() == 2 * (DATA_FEE + COMPUTE_FEE)
    solvent(cm)


def test_post_job_fee_splits(market, tiny_dataset):
    cm, buyer = market.cm, market.buyer
    # compute fee only: a dataset without a whole share is fine when it gets no data fee
    j = post(cm, buyer, tiny_dataset.address, data_fee=0, compute_fee=5)
    assert cm.job(j)[3:5] == (0, 5)
    # data fee only
    j = post(cm, buyer, market.db, data_fee=7, compute_fee=0)
    assert cm.job(j)[3:5] == (7, 0)
    assert cm.totalEscrow() == 12
    solvent(cm)


def test_unknown_job_view(compute_market):
    assert compute_market.job(1) == (ZERO, ZERO, b"\x00" * 32, 0, 0, 0, ZERO, JOB_NONE)
    assert compute_market.jobResult(1) == (b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, 0)
    assert compute_market.jobWorkers(1) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown database", "compute: unknown database"),
        ("empty spec", "compute: empty spec cid"),
        ("deadline now", "compute: deadline passed"),
        ("deadline past", "compute: deadline passed"),
        ("deadline huge", "compute: deadline out of range"),
        ("no payment", "compute: no payment"),
        ("no payment, data fee", "compute: no payment"),
        ("payment huge", "compute: payment out of range"),
        ("data fee above payment", "compute: data fee above payment"),
        ("no shareholders", "compute: dataset has no shareholders"),
    ],
)
def test_post_job_rejects(market, tiny_dataset, case, message):
    cm = market.cm
    args = {"db": market.db, "spec": SPEC, "data_fee": DATA_FEE, "deadline": now() + HOUR,
            "value": DATA_FEE + COMPUTE_FEE}
    match case:
        case "unknown database":
            args["db"] = market.buyer
        case "empty spec":
            args["spec"] = b"\x00" * 32
        case "deadline now":
            args["deadline"] = now()
        case "deadline past":
            args["deadline"] = now() - 1
        case "deadline huge":
            args["deadline"] = 2**64
        case "no payment":
            args["data_fee"], args["value"] = 0, 0
        case "no payment, data fee":
            args["value"] = 0
        case "payment huge":
            args["data_fee"], args["value"] = 0, 2**96
            boa.env.set_balance(market.buyer, 2**97)
        case "data fee above payment":
            args["value"] = DATA_FEE - 1
        case "no shareholders":
            args["db"] = tiny_dataset.address
    with boa.env.prank(market.buyer), boa.reverts(message):
        cm.postJob(args["db"], args["spec"], args["data_fee"], args["deadline"], value=args["value"])
    assert cm.jobCount() == 0
    solvent(cm)


def test_post_job_largest_payment(market):
    boa.env.set_balance(market.buyer, 2**97)
    j = post(market.cm, market.buyer, market.db, data_fee=2**95, compute_fee=2**95 - 1)
    assert market.cm.job(j)[3:6] == (2**95, 2**95 - 1, now() + HOUR)
    j = post(market.cm, market.buyer, market.db, deadline=2**64 - 1)
    assert market.cm.job(j)[5] == 2**64 - 1
    solvent(market.cm)


# ---------------------------------------------------------------- acceptJob


def test_accept_job(market, posted):
    cm = market.cm
    accept(cm, market.coord, posted)
    ev = only_event(cm.get_logs(), "JobAccepted")
    assert (ev.jobId, ev.coordinator) == (posted, market.coord)
    job = cm.job(posted)
    assert (job[6], job[7]) == (market.coord, JOB_ACCEPTED)
    assert job[:6] == (market.buyer, market.db, SPEC, DATA_FEE, COMPUTE_FEE, job[5])


def test_accept_job_at_deadline(market):
    j = post(market.cm, market.buyer, market.db, deadline=now() + 120)
    travel(120)
    assert now() == market.cm.job(j)[5]
    accept(market.cm, market.coord, j)
    assert market.cm.job(j)[7] == JOB_ACCEPTED


def test_accept_job_rejects(market, posted, alice):
    cm = market.cm
    with boa.env.prank(alice), boa.reverts(NOT_COORDINATOR):
        cm.acceptJob(posted)
    with boa.env.prank(market.coord), boa.reverts(UNKNOWN_JOB):
        cm.acceptJob(0)
    with boa.env.prank(market.coord), boa.reverts(UNKNOWN_JOB):
        cm.acceptJob(posted + 1)
    accept(cm, market.coord, posted)
    with boa.env.prank(market.other), boa.reverts("compute: job not posted"):
        cm.acceptJob(posted)
    late = post(cm, market.buyer, market.db, deadline=now() + 60)
    travel(61)
    with boa.env.prank(market.coord), boa.reverts(DEADLINE_PASSED):
        cm.acceptJob(late)


def test_revoked_coordinator_cannot_accept(market, posted):
    with boa.env.prank(market.governance):
        market.cm.revokeCoordinator(market.coord)
    with boa.env.prank(market.coord), boa.reverts(NOT_COORDINATOR):
        market.cm.acceptJob(posted)


# ---------------------------------------------------------------- assignWorkers


def test_assign_workers(market, accepted):
    cm, ws = market.cm, market.workers
    assign(cm, market.coord, accepted, ws[:2])
    logs = events(cm.get_logs(), "WorkerAssigned")
    assert [(e.jobId, e.worker) for e in logs] == [(accepted, ws[0]), (accepted, ws[1])]
    assert cm.jobWorkers(accepted) == ws[:2]
    assert [cm.isAssigned(accepted, w) for w in ws] == [True, True, False]
    assert [open_jobs(cm, w) for w in ws] == [1, 1, 0]
    # again later: replacements are appended
    assign(cm, market.coord, accepted, [ws[2]])
    assert cm.jobWorkers(accepted) == ws
    assert open_jobs(cm, ws[2]) == 1
    # an empty list changes nothing
    assign(cm, market.coord, accepted, [])
    assert cm.jobWorkers(accepted) == ws
    # a worker takes part in several jobs at once
    other = post(cm, market.buyer, market.db)
    accept(cm, market.other, other)
    assign(cm, market.other, other, [ws[0]])
    assert open_jobs(cm, ws[0]) == 2
    assert not cm.isAssigned(other, ws[1])


def test_assign_up_to_128_workers(market, accepted, make_account):
    # a 5% data cap with TMR and a 2-way split needs 63 workers, plus replacements
    cm = market.cm
    crowd = [make_account(2) for _ in range(128)]
    for w in crowd:
        register(cm, w)
    assign(cm, market.coord, accepted, crowd[:100])
    with boa.env.prank(market.coord), boa.reverts("compute: too many workers"):
        cm.assignWorkers(accepted, [*crowd[100:], market.workers[0]])
    assign(cm, market.coord, accepted, crowd[100:])
    assert len(cm.jobWorkers(accepted)) == 128
    with boa.env.prank(market.coord), boa.reverts("compute: too many workers"):
        cm.assignWorkers(accepted, [market.workers[0]])
    complete(cm, market.coord, accepted, crowd, [1] * 128)
    assert all(open_jobs(cm, w) == 0 for w in crowd)
    solvent(cm)


def test_assign_workers_rejects(market, accepted, alice):
    cm, coord, ws = market.cm, market.coord, market.workers
    with boa.env.prank(market.other), boa.reverts(NOT_JOB_COORDINATOR):
        cm.assignWorkers(accepted, ws)
    with boa.env.prank(coord), boa.reverts(UNKNOWN_JOB):
        cm.assignWorkers(accepted + 1, ws)
    with boa.env.prank(coord), boa.reverts("compute: worker not registered"):
        cm.assignWorkers(accepted, [ws[0], alice])
    with boa.env.prank(coord), boa.reverts("compute: worker already assigned"):
        cm.assignWorkers(accepted, [ws[0], ws[0]])
    assign(cm, coord, accepted, [ws[0]])
    with boa.env.prank(coord), boa.reverts("compute: worker already assigned"):
        cm.assignWorkers(accepted, [ws[1], ws[0]])
    # nothing of the failed calls stuck
    assert cm.jobWorkers(accepted) == [ws[0]]
    assert [open_jobs(cm, w) for w in ws] == [1, 0, 0]


def test_assign_workers_needs_an_accepted_job(market, posted):
    cm = market.cm
    with boa.env.prank(market.coord), boa.reverts(NOT_JOB_COORDINATOR):
        cm.assignWorkers(posted, market.workers)  # posted: nobody holds it yet
    accept(cm, market.coord, posted)
    assign(cm, market.coord, posted, market.workers[:1])
    complete(cm, market.coord, posted, market.workers[:1], [1])
    with boa.env.prank(market.coord), boa.reverts(NOT_ACCEPTED):
        cm.assignWorkers(posted, market.workers[1:])


def test_assign_workers_after_deadline(market, accepted):
    travel(HOUR + 1)
    with boa.env.prank(market.coord), boa.reverts(DEADLINE_PASSED):
        market.cm.assignWorkers(accepted, market.workers)


def test_revoked_coordinator_cannot_assign(market, accepted):
    with boa.env.prank(market.governance):
        market.cm.revokeCoordinator(market.coord)
    with boa.env.prank(market.coord), boa.reverts(NOT_COORDINATOR):
        market.cm.assignWorkers(accepted, market.workers)


# ---------------------------------------------------------------- slash


def test_slash(market, running):
    cm, bad = market.cm, market.workers[1]
    register(cm, bad, E // 2)  # top-up: the whole stake goes
    stake = MIN_STAKE + E // 2
    total_stake = cm.totalStake()
    slash(cm, market.coord, running, bad)
    ev = only_event(cm.get_logs(), "WorkerSlashed")
    assert (ev.jobId, ev.worker, ev.amount, ev.evidenceCid) == (running, bad, stake, EVIDENCE)
    assert cm.worker(bad) == (0, 1, False)  # deregistered; still counts the open job
    assert cm.isSlashed(running, bad) and cm.isAssigned(running, bad)
    assert not cm.isSlashed(running, market.workers[0])
    assert cm.balanceOf(market.buyer) == stake
    assert cm.totalStake() == total_stake - stake
    assert cm.totalOwed() == stake
    solvent(cm)
    # a replacement is assigned and the job completes without the slashed worker
    complete(cm, market.coord, running, [market.workers[0], market.workers[2]], [1, 1])
    assert cm.worker(bad) == (0, 0, False)
    assert cm.balanceOf(bad) == 0 and cm.unitsOf(running, bad) == 0
    solvent(cm)


def test_slashed_worker_cannot_rejoin_the_job(market, running):
    cm, bad = market.cm, market.workers[0]
    slash(cm, market.coord, running, bad)
    register(cm, bad)  # registers again with a fresh stake
    assert cm.worker(bad) == (MIN_STAKE, 1, True)
    with boa.env.prank(market.coord), boa.reverts("compute: worker already assigned"):
        cm.assignWorkers(running, [bad])
    with boa.env.prank(bad), boa.reverts("compute: worker is assigned to an open job"):
        cm.leave()
    # a slashed, unregistered worker cannot be assigned elsewhere
    slash(cm, market.coord, running, market.workers[1])
    other = post(cm, market.buyer, market.db)
    accept(cm, market.coord, other)
    with boa.env.prank(market.coord), boa.reverts("compute: worker not registered"):
        cm.assignWorkers(other, [market.workers[1]])


def test_slash_in_two_jobs(market, running):
    """A worker slashed in one job has no stake left to lose in the next."""
    cm, bad = market.cm, market.workers[0]
    second = post(cm, market.buyer, market.db)
    accept(cm, market.other, second)
    assign(cm, market.other, second, [bad])
    assert open_jobs(cm, bad) == 2
    slash(cm, market.coord, running, bad)
    slash(cm, market.other, second, bad)
    assert only_event(cm.get_logs(), "WorkerSlashed").amount == 0
    assert cm.balanceOf(market.buyer) == MIN_STAKE
    assert cm.worker(bad) == (0, 2, False)
    travel(HOUR + 1)
    refund(cm, running, market.buyer)
    refund(cm, second, market.buyer)
    assert cm.worker(bad) == (0, 0, False)
    solvent(cm)


def test_slash_after_deadline(market, running):
    travel(HOUR + 1)
    slash(market.cm, market.coord, running, market.workers[0])
    assert market.cm.isSlashed(running, market.workers[0])
    refund(market.cm, running, market.buyer)
    solvent(market.cm)


def test_slash_rejects(market, running, alice):
    cm, coord, w = market.cm, market.coord, market.workers[0]
    with boa.env.prank(market.other), boa.reverts(NOT_JOB_COORDINATOR):
        cm.slash(running, w, EVIDENCE)
    with boa.env.prank(coord), boa.reverts(UNKNOWN_JOB):
        cm.slash(running + 1, w, EVIDENCE)
    with boa.env.prank(coord), boa.reverts("compute: empty evidence cid"):
        cm.slash(running, w, b"\x00" * 32)
    with boa.env.prank(coord), boa.reverts("compute: worker not assigned"):
        cm.slash(running, alice, EVIDENCE)
    slash(cm, coord, running, w)
    with boa.env.prank(coord), boa.reverts("compute: worker already slashed"):
        cm.slash(running, w, EVIDENCE)
    with boa.env.prank(market.governance):
        cm.revokeCoordinator(coord)
    with boa.env.prank(coord), boa.reverts(NOT_COORDINATOR):
        cm.slash(running, market.workers[1], EVIDENCE)


def test_slash_needs_an_accepted_job(market, running):
    cm = market.cm
    complete(cm, market.coord, running, market.workers, [1, 1, 1])
    with boa.env.prank(market.coord), boa.reverts(NOT_ACCEPTED):
        cm.slash(running, market.workers[0], EVIDENCE)
    posted = post(cm, market.buyer, market.db)
    with boa.env.prank(market.coord), boa.reverts(NOT_JOB_COORDINATOR):
        cm.slash(posted, market.workers[0], EVIDENCE)


# ---------------------------------------------------------------- completeJob


def test_complete_job(market, running, alice, bob):
    cm, token, buyer, ws = market.cm, market.token, market.buyer, market.workers
    units = [1, 2, 3]
    complete(cm, market.coord, running, ws, units)
    logs = cm.get_logs()
    amounts = [COMPUTE_FEE * u // 6 for u in units]
    dust = COMPUTE_FEE - sum(amounts)
    assert dust > 0
    paid = events(logs, "WorkerPaid")
    assert [(e.jobId, e.worker, e.units, e.amount) for e in paid] == [
        (running, w, u, a) for w, u, a in zip(ws, units, amounts, strict=True)
    ]
    done = only_event(logs, "JobCompleted")
    assert (done.jobId, done.resultCid, done.modelHash, done.reportCid, done.totalUnits) == (
        running, RESULT, MODEL, REPORT, 6)
    dist = only_event(logs, "DividendsDistributed")  # emitted by the dataset's token
    assert (dist.sender, dist.weiAmount) == (cm.address, DATA_FEE)
    assert token.totalDistributed() == DATA_FEE
    assert boa.env.get_balance(token.address) == DATA_FEE
    assert [cm.balanceOf(w) for w in ws] == amounts
    assert cm.balanceOf(buyer) == dust
    assert [cm.unitsOf(running, w) for w in ws] == units
    assert [open_jobs(cm, w) for w in ws] == [0, 0, 0]
    assert cm.job(running)[7] == JOB_COMPLETED
    assert cm.jobResult(running) == (RESULT, MODEL, REPORT, 6)
    assert cm.totalEscrow() == 0
    assert cm.totalOwed() == COMPUTE_FEE
    solvent(cm)
    # the dataset's shareholders (alice 100 shares, bob 50) got the data fee pro rata
    for who, shares in ((alice, ALICE_SHARES), (bob, BOB_SHARES)):
        assert DATA_FEE * shares // BOOTSTRAP - 1 <= token.withdrawableDividendOf(who) <= DATA_FEE * shares // BOOTSTRAP


def test_complete_job_subset_and_zero_units(market, running):
    """Assigned workers left out get nothing; a listed worker with zero units gets zero."""
    cm, ws = market.cm, market.workers
    complete(cm, market.coord, running, [ws[2], ws[0]], [4, 0])
    paid = events(cm.get_logs(), "WorkerPaid")
    assert [(e.worker, e.units, e.amount) for e in paid] == [(ws[2], 4, COMPUTE_FEE), (ws[0], 0, 0)]
    assert [cm.balanceOf(w) for w in ws] == [0, 0, COMPUTE_FEE]
    assert cm.balanceOf(market.buyer) == 0
    assert [open_jobs(cm, w) for w in ws] == [0, 0, 0]
    assert cm.jobResult(running)[3] == 4
    solvent(cm)


def test_complete_job_without_data_fee(market, tiny_dataset):
    cm = market.cm
    j = post(cm, market.buyer, tiny_dataset.address, data_fee=0, compute_fee=9)
    accept(cm, market.coord, j)
    assign(cm, market.coord, j, market.workers)
    complete(cm, market.coord, j, market.workers, [1, 1, 1])
    assert not events(cm.get_logs(), "DividendsDistributed")
    assert [cm.balanceOf(w) for w in market.workers] == [3, 3, 3]
    assert tiny_dataset.token.totalDistributed() == 0
    solvent(cm)


def test_complete_job_without_compute_fee(market):
    cm = market.cm
    j = post(cm, market.buyer, market.db, data_fee=5, compute_fee=0)
    accept(cm, market.coord, j)
    assign(cm, market.coord, j, market.workers[:1])
    complete(cm, market.coord, j, market.workers[:1], [7])
    assert only_event(cm.get_logs(), "WorkerPaid").amount == 0
    assert cm.balanceOf(market.workers[0]) == 0
    assert market.token.totalDistributed() == 5
    assert cm.totalOwed() == 0
    solvent(cm)


def test_complete_job_at_deadline(market, running):
    travel(HOUR)
    assert now() == market.cm.job(running)[5]
    complete(market.cm, market.coord, running, market.workers, [1, 1, 1])
    assert market.cm.job(running)[7] == JOB_COMPLETED


def test_complete_job_max_units(market, running):
    cm = market.cm
    units = [2**64 - 1] * 3
    complete(cm, market.coord, running, market.workers, units)
    assert cm.jobResult(running)[3] == 3 * (2**64 - 1)
    assert [cm.unitsOf(running, w) for w in market.workers] == units
    assert [cm.balanceOf(w) for w in market.workers] == [COMPUTE_FEE // 3] * 3
    solvent(cm)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("lengths", "compute: workers and units differ in length"),
        ("result", "compute: empty result cid"),
        ("model", "compute: empty model hash"),
        ("report", "compute: empty report cid"),
        ("not assigned", "compute: worker not assigned"),
        ("slashed", "compute: worker was slashed"),
        ("duplicate", "compute: duplicate worker"),
        ("zero units", "compute: no verified units"),
        ("empty", "compute: no verified units"),
        ("huge units", "compute: units out of range"),
        ("stranger", NOT_JOB_COORDINATOR),
        ("other coordinator", NOT_JOB_COORDINATOR),
        ("revoked", NOT_COORDINATOR),
        ("late", DEADLINE_PASSED),
    ],
)
def test_complete_job_rejects(market, running, alice, case, message):
    cm, ws = market.cm, market.workers
    caller = market.coord
    workers, units = list(ws), [1, 1, 1]
    cids = [RESULT, MODEL, REPORT]
    match case:
        case "lengths":
            units = [1, 1]
        case "result" | "model" | "report":
            cids[["result", "model", "report"].index(case)] = b"\x00" * 32
        case "not assigned":
            workers[1] = alice
        case "slashed":
            slash(cm, market.coord, running, ws[2])
        case "duplicate":
            workers[2] = ws[0]
        case "zero units":
            units = [0, 0, 0]
        case "empty":
            workers, units = [], []
        case "huge units":
            units[1] = 2**64
        case "stranger":
            caller = alice
        case "other coordinator":
            caller = market.other
        case "revoked":
            with boa.env.prank(market.governance):
                cm.revokeCoordinator(market.coord)
        case "late":
            travel(HOUR + 1)
    with boa.env.prank(caller), boa.reverts(message):
        cm.completeJob(running, *cids, workers, units, *NO_VALUE)
    assert cm.job(running)[7] == JOB_ACCEPTED
    assert [cm.unitsOf(running, w) for w in ws] == [0, 0, 0]
    solvent(cm)


def test_complete_job_once(market, running):
    cm = market.cm
    complete(cm, market.coord, running, market.workers, [1, 1, 1])
    with boa.env.prank(market.coord), boa.reverts(NOT_ACCEPTED):
        cm.completeJob(running, RESULT, MODEL, REPORT, market.workers, [1, 1, 1], *NO_VALUE)
    travel(HOUR + 1)
    with boa.reverts("compute: job already settled"):
        refund(cm, running, market.buyer)
    with boa.env.prank(market.coord), boa.reverts(UNKNOWN_JOB):
        cm.completeJob(running + 1, RESULT, MODEL, REPORT, market.workers, [1, 1, 1], *NO_VALUE)


def test_complete_posted_job_rejected(market, posted):
    with boa.env.prank(market.coord), boa.reverts(NOT_JOB_COORDINATOR):
        market.cm.completeJob(posted, RESULT, MODEL, REPORT, [], [], *NO_VALUE)


# ---------------------------------------------------------------- refund


def test_refund_posted_job(market, posted, alice):
    cm = market.cm
    travel(HOUR + 1)
    refund(cm, posted, alice)  # anyone may trigger it
    ev = only_event(cm.get_logs(), "JobRefunded")
    assert (ev.jobId, ev.buyer, ev.amount) == (posted, market.buyer, DATA_FEE + COMPUTE_FEE)
    assert cm.balanceOf(market.buyer) == DATA_FEE + COMPUTE_FEE
    assert cm.balanceOf(alice) == 0
    assert cm.job(posted)[7] == JOB_REFUNDED
    assert (cm.totalEscrow(), cm.totalOwed()) == (0, DATA_FEE + COMPUTE_FEE)
    solvent(cm)
    with boa.reverts("compute: job already settled"):
        refund(cm, posted, alice)


def test_refund_accepted_job_frees_workers(market, running):
    cm, ws = market.cm, market.workers
    slash(cm, market.coord, running, ws[0])
    travel(HOUR + 1)
    refund(cm, running, market.buyer)
    assert cm.balanceOf(market.buyer) == DATA_FEE + COMPUTE_FEE + MIN_STAKE  # fees plus the slashed stake
    assert [open_jobs(cm, w) for w in ws] == [0, 0, 0]
    assert [cm.balanceOf(w) for w in ws] == [0, 0, 0]
    for w in ws[1:]:
        with boa.env.prank(w):
            cm.leave()
    assert cm.totalStake() == 0
    solvent(cm)
    with boa.env.prank(market.coord), boa.reverts(NOT_ACCEPTED):
        cm.completeJob(running, RESULT, MODEL, REPORT, ws[1:], [1, 1], *NO_VALUE)


def test_refund_after_revocation(market, running):
    """A revoked coordinator's jobs cannot complete; the buyer gets its money back."""
    cm = market.cm
    with boa.env.prank(market.governance):
        cm.revokeCoordinator(market.coord)
    with boa.env.prank(market.buyer), boa.reverts("compute: deadline not reached"):
        cm.refund(running)
    travel(HOUR + 1)
    refund(cm, running, market.buyer)
    assert cm.balanceOf(market.buyer) == DATA_FEE + COMPUTE_FEE
    solvent(cm)


def test_refund_rejects(market, posted, alice):
    cm = market.cm
    with boa.env.prank(alice), boa.reverts(UNKNOWN_JOB):
        cm.refund(posted + 1)
    with boa.env.prank(alice), boa.reverts(UNKNOWN_JOB):
        cm.refund(0)
    travel(HOUR)  # exactly at the deadline the job may still complete
    assert now() == cm.job(posted)[5]
    with boa.env.prank(alice), boa.reverts("compute: deadline not reached"):
        cm.refund(posted)
    travel(1)
    refund(cm, posted, alice)


# ---------------------------------------------------------------- withdraw


def test_withdraw(market, running):
    cm, w = market.cm, market.workers[0]
    complete(cm, market.coord, running, market.workers, [1, 1, 1])
    due = cm.balanceOf(w)
    owed = cm.totalOwed()
    before = boa.env.get_balance(w)
    with boa.env.prank(w):
        cm.withdraw()
    ev = only_event(cm.get_logs(), "Withdrawal")
    assert (ev.account, ev.amount) == (w, due)
    assert boa.env.get_balance(w) == before + due
    assert cm.balanceOf(w) == 0
    assert cm.totalOwed() == owed - due
    solvent(cm)
    with boa.env.prank(w), boa.reverts("compute: nothing to withdraw"):
        cm.withdraw()
    # everybody withdraws: the contract keeps exactly the remaining stakes
    for who in [*market.workers[1:], market.buyer]:
        with boa.env.prank(who):
            cm.withdraw()
    assert cm.totalOwed() == 0
    assert boa.env.get_balance(cm.address) == cm.totalStake() == 3 * MIN_STAKE
    solvent(cm)


def test_withdraw_nothing(compute_market, alice):
    with boa.env.prank(alice), boa.reverts("compute: nothing to withdraw"):
        compute_market.withdraw()


RECEIVER = """
# pragma version ~=0.4.3
interface Market:
    def withdraw(): nonpayable
    def leave(): nonpayable
    def registerWorker(): payable

market: immutable(address)
reenter: public(bool)
received: public(uint256)

@deploy
def __init__(m: address, reenter_: bool):
    market = m
    self.reenter = reenter_

@external
@payable
def join():
    extcall Market(market).registerWorker(value=msg.value)

@external
def quit():
    extcall Market(market).leave()

@external
def pull():
    extcall Market(market).withdraw()

@external
@payable
def __default__():
    self.received += msg.value
    if self.reenter:
        extcall Market(market).withdraw()
"""


def test_withdraw_to_contract_and_reentrancy(compute_market, alice):
    cm = compute_market
    for reenter in (False, True):
        receiver = boa.loads(RECEIVER, cm.address, reenter)
        with boa.env.prank(alice):
            receiver.join(value=2 * E)
        receiver.quit()
        assert cm.balanceOf(receiver.address) == 2 * E
        if reenter:
            # the reentrant withdraw() is refused, so the outer send fails and nothing moves
            with boa.reverts():
                receiver.pull()
            assert cm.balanceOf(receiver.address) == 2 * E
            assert boa.env.get_balance(receiver.address) == 0
        else:
            receiver.pull()
            assert receiver.received() == 2 * E
            assert cm.balanceOf(receiver.address) == 0
        solvent(cm)


# ---------------------------------------------------------------- a whole job with a redo


def test_job_with_fault_and_replacement(market, running, make_account):
    """TMR-style flow: a deviating worker is slashed and replaced; the buyer gets its stake,
    the honest workers and the replacement are paid, the shareholders get the data fee."""
    cm, ws = market.cm, market.workers
    spare = make_account()
    register(cm, spare, 3 * E)
    slash(cm, market.coord, running, ws[1])
    assign(cm, market.coord, running, [spare])
    assert cm.jobWorkers(running) == [*ws, spare]
    complete(cm, market.coord, running, [ws[0], spare, ws[2]], [10, 10, 10])
    share = COMPUTE_FEE // 3
    assert [cm.balanceOf(w) for w in (ws[0], spare, ws[2], ws[1])] == [share, share, share, 0]
    assert cm.balanceOf(market.buyer) == MIN_STAKE + COMPUTE_FEE - 3 * share
    assert [open_jobs(cm, w) for w in (*ws, spare)] == [0, 0, 0, 0]
    assert cm.worker(spare) == (3 * E, 0, True)
    assert market.token.totalDistributed() == DATA_FEE
    solvent(cm)
