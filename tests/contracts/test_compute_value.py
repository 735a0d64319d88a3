"""ComputeMarket value payouts: the value share fixed at posting, the Merkle root recorded by
completeJob (OpenZeppelin StandardMerkleTree leaves, built by databright.chain.merkle), the
dividends of what is left, and claimValue's pull payments with every way to misuse them."""

from __future__ import annotations

import boa
import pytest

from databright.chain.merkle import ValueTree

from .conftest import JOB_REFUNDED, VOTING_PERIOD, E, cid, events, mine, only_event
from .test_compute_market import (
    DATA_FEE,
    HOUR,
    MODEL,
    NOT_ACCEPTED,
    REPORT,
    RESULT,
    ZERO32,
    accept,
    assign,
    complete,
    make_market,
    post,
    refund,
    solvent,
    travel,
)

VALUE_CID = cid(150)
POOL = DATA_FEE * 5000 // 10_000  # the default value share, 50%


@pytest.fixture
def market(compute_market, governance, dataset, make_account):
    return make_market(compute_market, governance, dataset, make_account)


@pytest.fixture
def running(market):
    """A job on the dataset (default value share), accepted, with the three workers on it."""
    j = post(market.cm, market.buyer, market.db)
    accept(market.cm, market.coord, j)
    assign(market.cm, market.coord, j, market.workers)
    return j


@pytest.fixture
def contributors(make_account):
    return [make_account(1) for _ in range(4)]


def valued(market, job, payouts, total=None, value_cid=VALUE_CID):
    """Completes `job` with a value tree over `payouts`; returns the tree."""
    tree = ValueTree.of(payouts)
    total = sum(v for _, v in payouts) if total is None else total
    complete(market.cm, market.coord, job, market.workers, [1, 1, 1], value=(tree.root, value_cid, total))
    return tree


def claim(cm, job, tree, who, amount=None, proof=None):
    """`who` claims its leaf of `tree` in `job` (or `amount` with `proof`, to misuse it)."""
    i = tree.index_of(who)
    with boa.env.prank(who):
        cm.claimValue(job, tree.leaves[i][1] if amount is None else amount, tree.proof(i) if proof is None else proof)


@pytest.fixture
def paid(market, running, contributors):
    """The running job completed with value payouts of 0.6, 0.5, 0.3 and 0.1 ether (less 7 wei
    of dust); returns (job, tree)."""
    amounts = [6 * E // 10, 5 * E // 10, 3 * E // 10, E // 10 - 7]
    return running, valued(market, running, list(zip(contributors, amounts, strict=True)))


def test_value_share_fixed_at_posting(market, running):
    assert market.cm.jobValue(running) == (5000, ZERO32[:20], 0)


def test_complete_with_value_root(market, running, contributors):
    cm, token = market.cm, market.token
    amounts = [E, E // 3, E // 7]
    tree = valued(market, running, list(zip(contributors[:3], amounts, strict=True)))
    total = sum(amounts)
    logs = cm.get_logs()
    ev = only_event(logs, "JobValued")
    assert (ev.jobId, ev.valueRoot, ev.valueCid, ev.valuePool, ev.dividends) == (
        running, tree.root, VALUE_CID, total, DATA_FEE - total)
    # the rest of the data fee, rounding dust and the unpaid value share included, is dividends
    assert only_event(logs, "DividendsDistributed").weiAmount == DATA_FEE - total
    assert token.totalDistributed() == DATA_FEE - total
    assert cm.jobValue(running) == (5000, tree.root[:20], total)
    assert sum(cm.jobValue(j)[2] for j in range(1, cm.jobCount() + 1)) == total
    assert cm.totalEscrow() == 0
    solvent(cm)


def test_claims_pay_each_contributor_once(market, paid, contributors):
    cm = market.cm
    job, tree = paid
    left = cm.jobValue(job)[2]
    for i, who in enumerate(contributors):
        before = boa.env.get_balance(who)
        amount = tree.leaves[tree.index_of(who)][1]
        claim(cm, job, tree, who)
        ev = only_event(cm.get_logs(), "ValueClaimed")
        assert (ev.jobId, ev.account, ev.amount) == (job, who, amount)
        assert boa.env.get_balance(who) == before + amount
        assert cm.valueClaimed(job, who)
        assert not any(cm.valueClaimed(job, w) for w in contributors[i + 1 :])
        left -= amount
        assert cm.jobValue(job)[2] == left == sum(cm.jobValue(j)[2] for j in range(1, cm.jobCount() + 1))
        solvent(cm)
        with boa.reverts("compute: value already claimed"):
            claim(cm, job, tree, who)
    assert left == 0


@pytest.mark.parametrize("case", ["more", "less", "zero"])
def test_claim_with_wrong_amount(market, paid, contributors, case):
    job, tree = paid
    who = contributors[1]
    amount = tree.leaves[tree.index_of(who)][1]
    wrong = {"more": amount + 1, "less": amount - 1, "zero": 0}[case]
    with boa.reverts("compute: invalid value proof"):
        claim(market.cm, job, tree, who, amount=wrong)
    assert not market.cm.valueClaimed(job, who)
    claim(market.cm, job, tree, who)  # the right amount still works
    assert market.cm.valueClaimed(job, who)


def test_claim_with_wrong_proof(market, paid, contributors):
    job, tree = paid
    who = contributors[0]
    proof = tree.proof(tree.index_of(who))
    for bad in (proof[:-1], [*proof, proof[0]], [b"\x01" * 32, *proof[1:]], []):
        with boa.reverts("compute: invalid value proof"):
            claim(market.cm, job, tree, who, proof=bad)
    # a proof of another job's tree is no proof here
    assert not market.cm.valueClaimed(job, who)
    solvent(market.cm)


def test_claim_of_another_accounts_leaf(market, paid, contributors, make_account):
    job, tree = paid
    thief = make_account()
    victim = contributors[0]
    i = tree.index_of(victim)
    for who in (thief, contributors[1]):
        with boa.env.prank(who), boa.reverts("compute: invalid value proof"):
            market.cm.claimValue(job, tree.leaves[i][1], tree.proof(i))
    claim(market.cm, job, tree, victim)


def test_claim_without_root(market, running, contributors):
    cm = market.cm
    complete(cm, market.coord, running, market.workers, [1, 1, 1])  # valuation off
    assert not events(cm.get_logs(), "JobValued")
    assert market.token.totalDistributed() == DATA_FEE
    for job in (running, running + 1):  # and an unknown job
        with boa.env.prank(contributors[0]), boa.reverts("compute: job has no value payouts"):
            cm.claimValue(job, 1, [])


def test_refunded_job_has_no_root(market, running, contributors):
    cm = market.cm
    travel(HOUR + 1)
    refund(cm, running, market.buyer)
    assert cm.job(running)[7] == JOB_REFUNDED
    assert cm.jobValue(running) == (5000, ZERO32[:20], 0)
    tree = ValueTree.of([(contributors[0], 1)])
    with boa.env.prank(market.coord), boa.reverts(NOT_ACCEPTED):
        cm.completeJob(running, RESULT, MODEL, REPORT, market.workers, [1, 1, 1], tree.root, VALUE_CID, 1)
    with boa.env.prank(contributors[0]), boa.reverts("compute: job has no value payouts"):
        cm.claimValue(running, 1, [])


def test_single_leaf_tree(market, running, contributors):
    tree = valued(market, running, [(contributors[2], POOL)])
    assert tree.root == tree.nodes[0] and tree.proof(0) == []
    claim(market.cm, running, tree, contributors[2])
    assert market.cm.jobValue(running)[2] == 0
    solvent(market.cm)


def test_tree_above_its_pool_pays_no_more_than_the_pool(market, running, contributors):
    """A root whose leaves sum to more than the recorded pool (a faulty coordinator): claims
    stop at the pool, so no other job's money can be drawn."""
    cm = market.cm
    tree = valued(market, running, [(contributors[0], POOL), (contributors[1], POOL)], total=POOL)
    claim(cm, running, tree, contributors[0])
    with boa.reverts("compute: claim above the job's unclaimed value"):
        claim(cm, running, tree, contributors[1])
    assert cm.jobValue(running)[2] == 0 and not cm.valueClaimed(running, contributors[1])
    solvent(cm)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("total without root", "compute: value payouts without a root"),
        ("root without cid", "compute: empty value report cid"),
        ("root without total", "compute: empty value pool"),
        ("above share", "compute: value payouts above the job's value share"),
        ("zero prefix", "compute: value root prefix is zero"),
    ],
)
def test_complete_rejects_bad_value(market, running, contributors, case, message):
    cm = market.cm
    root = ValueTree.of([(contributors[0], 1)]).root
    value = {
        "total without root": (ZERO32, VALUE_CID, 1),
        "root without cid": (root, ZERO32, 1),
        "root without total": (root, VALUE_CID, 0),
        "above share": (root, VALUE_CID, POOL + 1),
        "zero prefix": (b"\x00" * 20 + b"\x01" * 12, VALUE_CID, 1),  # would read as "no root"
    }[case]
    with boa.env.prank(market.coord), boa.reverts(message):
        cm.completeJob(running, RESULT, MODEL, REPORT, market.workers, [1, 1, 1], *value)
    assert cm.jobValue(running) == (5000, ZERO32[:20], 0)
    complete(cm, market.coord, running, market.workers, [1, 1, 1], value=(root, VALUE_CID, POOL))
    assert cm.jobValue(running)[1:] == (root[:20], POOL)


def test_only_the_jobs_coordinator_sets_the_root(market, running, contributors):
    cm = market.cm
    root = ValueTree.of([(contributors[0], 1)]).root
    for who in (market.other, contributors[0], market.buyer):
        with boa.env.prank(who), boa.reverts("compute: caller is not the job's coordinator"):
            cm.completeJob(running, RESULT, MODEL, REPORT, market.workers, [1, 1, 1], root, VALUE_CID, 1)
    complete(cm, market.coord, running, market.workers, [1, 1, 1], value=(root, VALUE_CID, 1))
    other = ValueTree.of([(contributors[1], 2)]).root
    with boa.env.prank(market.coord), boa.reverts(NOT_ACCEPTED):
        cm.completeJob(running, RESULT, MODEL, REPORT, market.workers, [1, 1, 1], other, VALUE_CID, 2)
    assert cm.jobValue(running)[1] == root[:20]


def test_whole_fee_by_value_skips_distribute(create_request, market, alice, contributors):
    cm = market.cm
    ds = create_request([alice], [10 * E], value_share=10_000, name="all", symbol="ALL")
    j = post(cm, market.buyer, ds.address, data_fee=E, compute_fee=E)
    accept(cm, market.coord, j)
    assign(cm, market.coord, j, market.workers)
    tree = ValueTree.of([(contributors[0], E // 2), (contributors[1], E // 2)])
    complete(cm, market.coord, j, market.workers, [1, 1, 1], value=(tree.root, VALUE_CID, E))
    assert not events(cm.get_logs(), "DividendsDistributed")
    assert ds.token.totalDistributed() == 0
    assert cm.jobValue(j) == (10_000, tree.root[:20], E)
    solvent(cm)


def test_zero_share_refuses_any_root(create_request, market, alice, contributors):
    cm = market.cm
    ds = create_request([alice], [10 * E], value_share=0, name="none", symbol="NON")
    j = post(cm, market.buyer, ds.address, data_fee=E, compute_fee=E)
    accept(cm, market.coord, j)
    assign(cm, market.coord, j, market.workers)
    root = ValueTree.of([(contributors[0], 1)]).root
    with boa.env.prank(market.coord), boa.reverts("compute: value payouts above the job's value share"):
        cm.completeJob(j, RESULT, MODEL, REPORT, market.workers, [1, 1, 1], root, VALUE_CID, 1)


def test_rules_change_does_not_touch_a_posted_job(association, market, dataset, alice, bob):
    cm = market.cm
    before = post(cm, market.buyer, market.db)
    with boa.env.prank(alice):
        dataset.token.delegate(alice)
    mine()
    with boa.env.prank(alice):
        pid = association.proposeRules(market.db, 2000, 5001, VOTING_PERIOD, 1000 * E, 8000)
        association.castVote(pid, 1)
    mine(VOTING_PERIOD + 1)
    association.execute(pid)
    after = post(cm, market.buyer, market.db)
    assert cm.jobValue(before)[0] == 5000
    assert cm.jobValue(after)[0] == 8000


CLAIMER = """
# pragma version ~=0.4.3
interface CM:
    def claimValue(jobId: uint256, amount: uint256, proof: DynArray[bytes32, 32]): nonpayable

m: address
job: uint256
amount: uint256
proof: DynArray[bytes32, 32]
calls: public(uint256)
reclaimed: public(bool)
withdrew: public(bool)

@deploy
def __init__(m: address):
    self.m = m

@external
def go(job: uint256, amount: uint256, proof: DynArray[bytes32, 32]):
    self.job = job
    self.amount = amount
    self.proof = proof
    extcall CM(self.m).claimValue(job, amount, proof)

@external
@payable
def __default__():
    self.calls += 1
    if self.calls == 1:
        ok: bool = raw_call(self.m, abi_encode(self.job, self.amount, self.proof,
                            method_id=method_id("claimValue(uint256,uint256,bytes32[])")),
                            revert_on_failure=False)
        self.reclaimed = ok
        self.withdrew = raw_call(self.m, method_id("withdraw()"), revert_on_failure=False)
"""


def test_reentrant_claim_is_refused(market, running, contributors):
    """claimValue has no lock (checks-effects-interactions): a contract claimer that reenters
    claimValue from the payment, and withdraw, gets nothing more; the pool and the balance
    identity are right after the claim."""
    cm = market.cm
    receiver = boa.loads(CLAIMER, cm.address)
    payouts = [(receiver.address, E // 5), *[(c, E // 10) for c in contributors[:2]]]
    tree = valued(market, running, payouts)
    i = tree.index_of(receiver.address)
    receiver.go(running, E // 5, tree.proof(i))
    assert receiver.calls() == 1 and not receiver.reclaimed() and not receiver.withdrew()
    assert boa.env.get_balance(receiver.address) == E // 5
    assert cm.valueClaimed(running, receiver.address)
    assert cm.jobValue(running)[2] == 2 * (E // 10)
    solvent(cm)
    with boa.reverts("compute: value already claimed"):
        receiver.go(running, E // 5, tree.proof(i))


def test_claimed_bits_are_per_account_and_job(market, contributors):
    """One mapping level keyed by (account, job word): a claim marks only its own (job, account)."""
    cm = market.cm
    jobs = []
    for _ in range(2):
        j = post(cm, market.buyer, market.db)
        accept(cm, market.coord, j)
        assign(cm, market.coord, j, market.workers)
        jobs.append((j, valued(market, j, [(c, E // 10) for c in contributors[:2]])))
    (j1, t1), (j2, _t2) = jobs
    claim(cm, j1, t1, contributors[0])
    assert cm.valueClaimed(j1, contributors[0])
    assert not cm.valueClaimed(j2, contributors[0])
    assert not cm.valueClaimed(j1, contributors[1])
    assert not cm.valueClaimed(2**104, contributors[0])


REFUSER = """
# pragma version ~=0.4.3
interface CM:
    def claimValue(jobId: uint256, amount: uint256, proof: DynArray[bytes32, 32]): nonpayable

@external
def go(m: address, job: uint256, amount: uint256, proof: DynArray[bytes32, 32]):
    extcall CM(m).claimValue(job, amount, proof)

@external
@payable
def __default__():
    raise "no ether"
"""


def test_claim_to_a_refusing_contract_reverts_whole(market, running, contributors):
    """The payment's failure reverts the claim: the bit stays clear and the pool whole."""
    cm = market.cm
    refuser = boa.loads(REFUSER)
    tree = valued(market, running, [(refuser.address, E // 5), (contributors[0], E // 10)])
    with boa.reverts():
        refuser.go(cm.address, running, E // 5, tree.proof(tree.index_of(refuser.address)))
    assert not cm.valueClaimed(running, refuser.address)
    assert cm.jobValue(running)[2] == E // 5 + E // 10
    solvent(cm)
