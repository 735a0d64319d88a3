"""DataAssociation: requests, data and rules proposals, snapshot-weighted voting, execution."""

from __future__ import annotations

import boa
import pytest

from .conftest import (
    ALICE_SHARES,
    APPROVAL_BPS,
    BOB_SHARES,
    BOOTSTRAP,
    KIND_DATA,
    KIND_RULES,
    MAX_SHARES,
    QUORUM_BPS,
    SPEC_CID,
    STATE_ACTIVE,
    STATE_DEFEATED,
    STATE_EXECUTED,
    STATE_SUCCEEDED,
    SUPPLY_CAP,
    VALUE_SHARE_BPS,
    VOTING_PERIOD,
    ZERO,
    E,
    block_number,
    cid,
    events,
    mine,
    only_event,
    pack_rules,
)

NOT_OVER = "association: voting not over"
DEFEATED = "association: proposal defeated"
UNKNOWN_PROPOSAL = "association: unknown proposal"
UNKNOWN_DATABASE = "association: unknown database"
NO_POWER = "association: no voting power at the snapshot"


# ---------------------------------------------------------------- helpers


def propose(association, req, who, c=None, samples=10, shares=5 * E):
    with boa.env.prank(who):
        return association.propose(req.address, cid(1) if c is None else c, samples, shares)


def propose_rules(association, req, who, quorum, approval, period, max_shares, value_share=VALUE_SHARE_BPS):
    with boa.env.prank(who):
        return association.proposeRules(req.address, quorum, approval, period, max_shares, value_share)


def vote(association, pid, who, support=1, reason=None):
    with boa.env.prank(who):
        if reason is None:
            return association.castVote(pid, support)
        return association.castVoteWithReason(pid, support, reason)


def delegate_self(token, *who):
    for w in who:
        with boa.env.prank(w):
            token.delegate(w)


def end_voting(association, pid):
    """Mine to the first block after the proposal's deadline."""
    mine(association.proposalDeadline(pid) - block_number() + 1)


# ---------------------------------------------------------------- deployment


def test_constructor(association, blueprints):
    assert association.TOKEN_BLUEPRINT() == blueprints[0].address
    assert association.DATABASE_BLUEPRINT() == blueprints[1].address
    assert association.requestCount() == 0
    assert association.proposalCount() == 0
    assert (association.KIND_DATA(), association.KIND_RULES()) == (KIND_DATA, KIND_RULES)
    assert (
        association.STATE_ACTIVE(),
        association.STATE_DEFEATED(),
        association.STATE_SUCCEEDED(),
        association.STATE_EXECUTED(),
    ) == (STATE_ACTIVE, STATE_DEFEATED, STATE_SUCCEEDED, STATE_EXECUTED)


def test_constructor_rejects_zero_blueprints(association_deployer, blueprints):
    tb, db = (b.address for b in blueprints)
    for args in ((ZERO, db), (tb, ZERO), (ZERO, ZERO)):
        with boa.reverts("association: zero blueprint"):
            association_deployer.deploy(*args)


# ---------------------------------------------------------------- createRequest


def test_create_request(request_, association, alice, bob):
    req = request_
    assert association.requestCount() == 1
    assert association.requestAt(0) == req.address
    assert association.tokenOf(req.address) == req.token.address
    assert association.rules(req.address) == (QUORUM_BPS, APPROVAL_BPS, VOTING_PERIOD, MAX_SHARES, VALUE_SHARE_BPS)
    assert req.token.ASSOCIATION() == association.address
    assert req.db.ASSOCIATION() == association.address
    assert req.db.token() == req.token.address
    assert req.db.specCid() == SPEC_CID
    assert req.db.name() == req.token.name() == "digits"
    assert req.token.symbol() == "DIG"
    assert req.token.totalSupply() == BOOTSTRAP
    assert req.token.balanceOf(alice) == ALICE_SHARES
    assert req.token.balanceOf(bob) == BOB_SHARES
    assert req.db.entryCount() == 0


def test_create_request_events(request_, association, alice, bob):
    logs = association.get_logs(computation=request_.computation)
    rc = only_event(logs, "RequestCreated")
    assert (rc.database, rc.token, rc.initiator, rc.name, rc.specCid) == (
        request_.address,
        request_.token.address,
        alice,
        "digits",
        SPEC_CID,
    )
    ch = only_event(logs, "RulesChanged")
    assert (ch.database, ch.quorumBps, ch.approvalBps, ch.votingPeriod, ch.maxShares, ch.valueShareBps) == (
        request_.address,
        QUORUM_BPS,
        APPROVAL_BPS,
        VOTING_PERIOD,
        MAX_SHARES,
        VALUE_SHARE_BPS,
    )
    mints = [(e.sender, e.receiver, e.value) for e in events(logs, "Transfer")]
    assert mints == [(ZERO, alice, ALICE_SHARES), (ZERO, bob, BOB_SHARES)]
    # the association logs last, after the bootstrap mints
    assert type(logs[-2]).__name__ == "RequestCreated"
    assert type(logs[-1]).__name__ == "RulesChanged"


def test_create_request_by_anyone(create_request, association, carol, alice):
    req = create_request([alice], [E], sender=carol)
    rc = only_event(association.get_logs(computation=req.computation), "RequestCreated")
    assert rc.initiator == carol
    assert req.token.balanceOf(carol) == 0


def test_create_request_duplicate_curator_accumulates(create_request, alice):
    req = create_request([alice, alice], [E, 2 * E])
    assert req.token.balanceOf(alice) == 3 * E
    assert req.token.totalSupply() == 3 * E


def test_create_request_max_curators(create_request, make_account):
    curators = [make_account() for _ in range(32)]
    req = create_request(curators, list(range(1, 33)))
    assert req.token.totalSupply() == 32 * 33 // 2
    with boa.reverts():  # 33 curators do not fit the DynArray bound: ABI decoding fails
        create_request([*curators, curators[0]], list(range(1, 34)))


@pytest.mark.parametrize(
    "curators, shares, message",
    [
        ([], [], "association: at least one curator"),
        (["alice"], [], "association: curators and shares differ in length"),
        (["alice", "bob"], [E], "association: curators and shares differ in length"),
        (["alice"], [E, E], "association: curators and shares differ in length"),
        (["alice", "bob"], [E, 0], "association: curator shares must be positive"),
        ([ZERO], [E], "token: mint to zero address"),
        (["alice", "bob"], [SUPPLY_CAP, 1], "token: supply cap exceeded"),
    ],
)
def test_create_request_bad_curators(create_request, association, alice, bob, curators, shares, message):
    who = {"alice": alice, "bob": bob}
    curators = [who.get(c, c) for c in curators]
    with boa.reverts(message):
        create_request(curators, shares)
    assert association.requestCount() == 0


def test_create_request_empty_spec(create_request, association, alice):
    with boa.reverts("association: empty spec cid"):
        create_request([alice], [E], spec=b"\x00" * 32)
    assert association.requestCount() == 0


@pytest.mark.parametrize(
    "quorum, approval, period, max_shares, value_share, message",
    [
        (10_001, 5000, 5, E, 0, "association: quorum above 100%"),
        (2**256 - 1, 5000, 5, E, 0, "association: quorum above 100%"),
        (2000, 0, 5, E, 0, "association: approval must be 1..10000 bps"),
        (2000, 10_001, 5, E, 0, "association: approval must be 1..10000 bps"),
        (2000, 5000, 0, E, 0, "association: voting period out of range"),
        (2000, 5000, 2**32, E, 0, "association: voting period out of range"),
        (2000, 5000, 5, 0, 0, "association: max shares out of range"),
        (2000, 5000, 5, SUPPLY_CAP + 1, 0, "association: max shares out of range"),
        (2000, 5000, 5, E, 10_001, "association: value share above 100%"),
        (2000, 5000, 5, E, 2**256 - 1, "association: value share above 100%"),
    ],
)
def test_create_request_bad_rules(
    create_request, association, alice, quorum, approval, period, max_shares, value_share, message
):
    with boa.reverts(message):
        rules = {"quorum": quorum, "approval": approval, "period": period, "max_shares": max_shares}
        create_request([alice], [E], **rules, value_share=value_share)
    assert association.requestCount() == 0


@pytest.mark.parametrize(
    "rules",
    [(0, 1, 1, 1, 0), (10_000, 10_000, 2**32 - 1, SUPPLY_CAP, 10_000), (0, 10_000, 1, SUPPLY_CAP, 1)],
)
def test_create_request_rule_bounds(create_request, association, alice, rules):
    req = create_request(
        [alice], [E], quorum=rules[0], approval=rules[1], period=rules[2], max_shares=rules[3], value_share=rules[4]
    )
    assert association.rules(req.address) == rules
    assert association.valueShareBps(req.address) == rules[4]


def test_rules_of_unknown_database(association, alice, token):
    for addr in (alice, token.address, ZERO):
        with boa.reverts(UNKNOWN_DATABASE):
            association.rules(addr)
        with boa.reverts(UNKNOWN_DATABASE):
            association.valueShareBps(addr)


# ---------------------------------------------------------------- propose


def test_propose(voting, association, carol):
    b = block_number()
    pid = propose(association, voting, carol, cid(7), samples=1234, shares=9 * E)
    assert pid == 1
    ev = only_event(association.get_logs(), "ProposalCreated")
    assert (
        ev.proposalId,
        ev.database,
        ev.proposer,
        ev.kind,
        ev.body,
        ev.samples,
        ev.shares,
        ev.snapshot,
        ev.deadline,
    ) == (1, voting.address, carol, KIND_DATA, cid(7), 1234, 9 * E, b - 1, b + VOTING_PERIOD)
    assert association.proposalCount() == 1
    assert association.proposalSnapshot(pid) == b - 1
    assert association.proposalDeadline(pid) == b + VOTING_PERIOD
    assert association.proposalVotes(pid) == (0, 0)
    assert association.proposal(pid) == (voting.address, KIND_DATA, carol, cid(7), 1234, 9 * E)
    assert association.state(pid) == STATE_ACTIVE
    assert propose(association, voting, carol, cid(8)) == 2


def test_propose_unknown_database(association, alice, token):
    for addr in (alice, token.address, ZERO):
        with boa.env.prank(alice), boa.reverts(UNKNOWN_DATABASE):
            association.propose(addr, cid(1), 10, E)


def test_propose_empty_cid(request_, association, alice):
    with boa.reverts("association: empty cid"):
        propose(association, request_, alice, b"\x00" * 32)


@pytest.mark.parametrize("samples", [0, 2**48, 2**256 - 1])
def test_propose_samples_out_of_range(request_, association, alice, samples):
    with boa.reverts("association: samples out of range"):
        propose(association, request_, alice, samples=samples)


def test_propose_samples_bounds(request_, association, alice):
    pid = propose(association, request_, alice, cid(1), samples=1)
    assert association.proposal(pid)[4] == 1
    pid = propose(association, request_, alice, cid(2), samples=2**48 - 1)
    assert association.proposal(pid)[4] == 2**48 - 1


def test_propose_shares(request_, association, alice):
    with boa.reverts("association: no shares requested"):
        propose(association, request_, alice, shares=0)
    with boa.reverts("association: shares above the request's maximum"):
        propose(association, request_, alice, shares=MAX_SHARES + 1)
    pid = propose(association, request_, alice, shares=MAX_SHARES)
    assert association.proposal(pid)[5] == MAX_SHARES


def test_propose_registered_cid(voting, association, alice, bob):
    pid = propose(association, voting, bob, cid(1))
    vote(association, pid, alice)
    end_voting(association, pid)
    association.execute(pid)
    with boa.reverts("association: cid already registered"):
        propose(association, voting, alice, cid(1))
    # a pending proposal of another cid does not block this one
    propose(association, voting, alice, cid(2))
    propose(association, voting, bob, cid(3))


def test_propose_deadline_out_of_range(create_request, association, alice):
    req = create_request([alice], [E], period=2**32 - 1)
    with boa.reverts("association: block number out of range"):
        propose(association, req, alice)


def test_unknown_proposal(request_, association, alice):
    propose(association, request_, alice)
    for pid in (0, 2, 2**256 - 1):
        for view in (
            association.state,
            association.proposalSnapshot,
            association.proposalDeadline,
            association.proposalVotes,
            association.proposal,
        ):
            with boa.reverts(UNKNOWN_PROPOSAL):
                view(pid)
        with boa.reverts(UNKNOWN_PROPOSAL):
            vote(association, pid, alice)
        with boa.reverts(UNKNOWN_PROPOSAL):
            vote(association, pid, alice, reason="why")
        with boa.reverts(UNKNOWN_PROPOSAL):
            association.execute(pid)


# ---------------------------------------------------------------- voting


def test_cast_vote(voting, association, alice, bob, carol):
    pid = propose(association, voting, carol)
    assert vote(association, pid, alice, 1) == ALICE_SHARES
    ev = only_event(association.get_logs(), "VoteCast")
    assert (ev.voter, ev.proposalId, ev.support, ev.weight, ev.reason) == (alice, pid, 1, ALICE_SHARES, "")
    assert association.hasVoted(pid, alice) is True
    assert association.hasVoted(pid, bob) is False
    assert association.proposalVotes(pid) == (0, ALICE_SHARES)
    assert vote(association, pid, bob, 0) == BOB_SHARES
    assert association.proposalVotes(pid) == (BOB_SHARES, ALICE_SHARES)


def test_cast_vote_with_reason(voting, association, bob, carol):
    pid = propose(association, voting, carol)
    reason = "labels are noisy " * 30  # 510 characters of the 512 allowed
    assert vote(association, pid, bob, 0, reason=reason) == BOB_SHARES
    ev = only_event(association.get_logs(), "VoteCast")
    assert (ev.voter, ev.proposalId, ev.support, ev.weight, ev.reason) == (bob, pid, 0, BOB_SHARES, reason)
    assert association.proposalVotes(pid) == (BOB_SHARES, 0)


@pytest.mark.parametrize("support", [2, 255])
def test_invalid_support(voting, association, alice, carol, support):
    pid = propose(association, voting, carol)
    with boa.reverts("association: support must be 0 (against) or 1 (for)"):
        vote(association, pid, alice, support)
    with boa.reverts("association: support must be 0 (against) or 1 (for)"):
        vote(association, pid, alice, support, reason="x")
    assert association.hasVoted(pid, alice) is False


def test_already_voted(voting, association, alice, carol):
    pid = propose(association, voting, carol)
    vote(association, pid, alice, 1)
    for support in (0, 1):
        with boa.reverts("association: already voted"):
            vote(association, pid, alice, support)
        with boa.reverts("association: already voted"):
            vote(association, pid, alice, support, reason="again")
    assert association.proposalVotes(pid) == (0, ALICE_SHARES)


def test_voting_window(voting, association, alice, bob, carol):
    pid = propose(association, voting, carol)
    deadline = association.proposalDeadline(pid)
    mine(deadline - block_number())
    assert block_number() == deadline
    assert association.state(pid) == STATE_ACTIVE
    vote(association, pid, alice)  # the deadline block still accepts votes
    mine()
    with boa.reverts("association: voting closed"):
        vote(association, pid, bob)
    with boa.reverts("association: voting closed"):
        vote(association, pid, bob, reason="late")


def test_no_power_at_snapshot(voting, association, carol, dave):
    pid = propose(association, voting, carol)
    for who in (carol, dave):
        with boa.reverts(NO_POWER):
            vote(association, pid, who)


def test_undelegated_holder_has_no_power(request_, association, alice):
    mine()
    pid = propose(association, request_, alice)
    with boa.reverts(NO_POWER):
        vote(association, pid, alice)


def test_votes_delegated_after_snapshot_do_not_count(request_, association, alice, bob, carol):
    mine()
    pid = propose(association, request_, carol)
    delegate_self(request_.token, alice)  # in the proposal's own block: after the snapshot
    mine()
    delegate_self(request_.token, bob)
    mine()
    with boa.reverts(NO_POWER):
        vote(association, pid, alice)
    with boa.reverts(NO_POWER):
        vote(association, pid, bob)
    # a later proposal sees both
    pid2 = propose(association, request_, carol, cid(2))
    assert vote(association, pid2, alice) == ALICE_SHARES
    assert vote(association, pid2, bob) == BOB_SHARES


def test_delegation_in_snapshot_block_counts(request_, association, alice, carol):
    mine()
    delegate_self(request_.token, alice)
    mine()  # the delegation's block is now the snapshot block
    pid = propose(association, request_, carol)
    assert association.proposalSnapshot(pid) == block_number() - 1
    assert vote(association, pid, alice) == ALICE_SHARES


def test_transfer_after_voting_gives_no_extra_weight(voting, association, alice, bob, carol):
    delegate_self(voting.token, carol)
    mine()
    pid = propose(association, voting, carol)
    vote(association, pid, alice)
    with boa.env.prank(alice):
        voting.token.transfer(carol, ALICE_SHARES)
        voting.token.transfer(bob, 0)
    with boa.reverts(NO_POWER):
        vote(association, pid, carol)
    with boa.env.prank(carol):
        voting.token.transfer(bob, ALICE_SHARES)
    assert vote(association, pid, bob) == BOB_SHARES  # what bob had at the snapshot
    assert association.proposalVotes(pid) == (0, ALICE_SHARES + BOB_SHARES)
    assert voting.token.getVotes(bob) == BOOTSTRAP


def test_delegate_votes_for_others(request_, association, alice, bob, carol):
    with boa.env.prank(alice):
        request_.token.delegate(carol)
    with boa.env.prank(bob):
        request_.token.delegate(carol)
    mine()
    pid = propose(association, request_, alice)
    with boa.reverts(NO_POWER):
        vote(association, pid, alice)
    with boa.reverts(NO_POWER):
        vote(association, pid, bob)
    assert vote(association, pid, carol) == BOOTSTRAP
    assert association.proposalVotes(pid) == (0, BOOTSTRAP)
    # re-delegating after the snapshot does not let alice vote on it
    with boa.env.prank(alice):
        request_.token.delegate(alice)
    mine()
    with boa.reverts(NO_POWER):
        vote(association, pid, alice)


# ---------------------------------------------------------------- state and execute


def test_state_transitions_and_execute(voting, association, alice, bob, carol):
    pid = propose(association, voting, carol, cid(3), samples=777, shares=12 * E)
    assert association.state(pid) == STATE_ACTIVE
    vote(association, pid, bob, 1)
    with boa.reverts(NOT_OVER):
        association.execute(pid)
    mine(association.proposalDeadline(pid) - block_number())
    assert association.state(pid) == STATE_ACTIVE
    with boa.reverts(NOT_OVER):
        association.execute(pid)
    mine()
    assert association.state(pid) == STATE_SUCCEEDED
    mine(3)
    b = block_number()
    with boa.env.prank(alice):  # anyone may execute
        association.execute(pid)
    logs = association.get_logs()
    ea = only_event(logs, "EntryAppended")
    assert (ea.index, ea.cid, ea.contributor, ea.samples, ea.shares, ea.proposalId) == (
        0,
        cid(3),
        carol,
        777,
        12 * E,
        pid,
    )
    tr = only_event(logs, "Transfer")
    assert (tr.sender, tr.receiver, tr.value) == (ZERO, carol, 12 * E)
    assert only_event(logs, "ProposalExecuted").proposalId == pid
    assert type(logs[-1]).__name__ == "ProposalExecuted"
    assert events(logs, "RulesChanged") == []
    assert association.state(pid) == STATE_EXECUTED
    assert voting.db.entryCount() == 1
    assert voting.db.entry(0) == (cid(3), carol, 777, 12 * E, pid, b)
    assert voting.db.indexOf(cid(3)) == 1
    assert voting.token.balanceOf(carol) == 12 * E
    assert voting.token.totalSupply() == BOOTSTRAP + 12 * E
    with boa.reverts("association: already executed"):
        association.execute(pid)
    mine(10)
    assert association.state(pid) == STATE_EXECUTED
    with boa.reverts("association: already executed"):
        association.execute(pid)
    assert voting.token.totalSupply() == BOOTSTRAP + 12 * E


def test_minted_shares_follow_the_contributors_delegate(voting, association, alice, bob):
    pid = propose(association, voting, bob, shares=8 * E)
    vote(association, pid, alice)
    end_voting(association, pid)
    association.execute(pid)
    assert voting.token.getVotes(bob) == BOB_SHARES + 8 * E


def test_defeated_by_quorum(voting, association, alice, carol):
    # quorum 20% of 150 = 30 shares; carol has 29.999...
    with boa.env.prank(alice):
        voting.token.transfer(carol, 30 * E - 1)
    delegate_self(voting.token, carol)
    mine()
    pid = propose(association, voting, carol)
    vote(association, pid, carol, 1)
    end_voting(association, pid)
    assert association.state(pid) == STATE_DEFEATED
    with boa.reverts(DEFEATED):
        association.execute(pid)
    assert voting.db.entryCount() == 0


def test_quorum_boundary_is_inclusive(voting, association, alice, carol):
    with boa.env.prank(alice):
        voting.token.transfer(carol, 30 * E)
    delegate_self(voting.token, carol)
    mine()
    pid = propose(association, voting, carol)
    vote(association, pid, carol, 1)
    end_voting(association, pid)
    assert association.state(pid) == STATE_SUCCEEDED


def test_quorum_counts_undelegated_supply_at_snapshot(request_, association, alice, bob, carol):
    # bob (50 of 150) votes; alice never delegates. 50/150 >= 20%: passes
    delegate_self(request_.token, bob)
    mine()
    pid = propose(association, request_, carol)
    vote(association, pid, bob)
    # shares minted after the snapshot do not raise the quorum of this proposal
    with boa.env.prank(association.address):
        request_.token.mint(carol, 10_000 * E)
    end_voting(association, pid)
    assert association.state(pid) == STATE_SUCCEEDED


def test_defeated_by_approval(voting, association, alice, bob, carol):
    pid = propose(association, voting, carol)
    vote(association, pid, alice, 0)
    vote(association, pid, bob, 1)
    end_voting(association, pid)
    assert association.state(pid) == STATE_DEFEATED
    with boa.reverts(DEFEATED):
        association.execute(pid)


@pytest.mark.parametrize("approval, expected", [(5000, STATE_SUCCEEDED), (5001, STATE_DEFEATED)])
def test_approval_boundary(create_request, association, alice, bob, carol, approval, expected):
    req = create_request([alice, bob], [E, E], approval=approval)
    delegate_self(req.token, alice, bob)
    mine()
    pid = propose(association, req, carol, shares=1)
    vote(association, pid, alice, 1)
    vote(association, pid, bob, 0)
    end_voting(association, pid)
    assert association.state(pid) == expected


def test_no_votes_is_defeated_even_without_quorum(create_request, association, alice, carol):
    req = create_request([alice], [E], quorum=0, approval=1)
    mine()
    pid = propose(association, req, carol, shares=1)
    end_voting(association, pid)
    assert association.state(pid) == STATE_DEFEATED
    with boa.reverts(DEFEATED):
        association.execute(pid)


def test_only_against_votes_is_defeated(create_request, association, alice, carol):
    req = create_request([alice], [E], quorum=0, approval=1)
    delegate_self(req.token, alice)
    mine()
    pid = propose(association, req, carol, shares=1)
    vote(association, pid, alice, 0)
    end_voting(association, pid)
    assert association.state(pid) == STATE_DEFEATED


def test_proposal_made_with_the_request_has_no_voters(request_, association, alice):
    # same block as createRequest: the snapshot predates the token's supply
    delegate_self(request_.token, alice)
    pid = propose(association, request_, alice)
    with boa.reverts(NO_POWER):
        vote(association, pid, alice)
    end_voting(association, pid)
    assert association.state(pid) == STATE_DEFEATED


def test_same_cid_refused_while_a_proposal_is_active(voting, association, alice, bob):
    p1 = propose(association, voting, alice, cid(5))
    with boa.reverts("association: cid has an active proposal"):
        propose(association, voting, bob, cid(5))
    vote(association, p1, alice)
    end_voting(association, p1)
    assert association.state(p1) == STATE_SUCCEEDED
    # passed and not yet executed: still refused, with its own reason
    with boa.reverts("association: cid has a passed proposal awaiting execution"):
        propose(association, voting, bob, cid(5))
    association.execute(p1)
    with boa.reverts("association: cid already registered"):
        propose(association, voting, bob, cid(5))
    assert voting.db.entry(0)[1] == alice
    assert association.proposalCount() == 1


def test_same_cid_may_be_proposed_again_after_defeat(voting, association, alice, bob):
    p1 = propose(association, voting, alice, cid(6))
    vote(association, p1, alice, 0)
    end_voting(association, p1)
    assert association.state(p1) == STATE_DEFEATED
    p2 = propose(association, voting, bob, cid(6))
    assert only_event(association.get_logs(), "ProposalCreated").proposalId == p2
    vote(association, p2, alice)
    end_voting(association, p2)
    association.execute(p2)
    assert voting.db.entry(0)[:2] == (cid(6), bob)
    # the same cid in another request is independent
    assert association.state(p1) == STATE_DEFEATED


def test_execute_beyond_supply_cap_reverts(create_request, association, alice, carol):
    req = create_request([alice], [E], max_shares=SUPPLY_CAP)
    delegate_self(req.token, alice)
    mine()
    pid = propose(association, req, carol, shares=SUPPLY_CAP)
    vote(association, pid, alice)
    end_voting(association, pid)
    with boa.reverts("token: supply cap exceeded"):
        association.execute(pid)
    assert association.state(pid) == STATE_SUCCEEDED
    assert req.db.entryCount() == 0


# ---------------------------------------------------------------- rules proposals


def test_propose_rules_requires_voting_power(request_, association, alice, carol):
    with boa.reverts("association: proposer has no voting power"):
        propose_rules(association, request_, carol, 1, 1, 1, 1)
    # alice holds shares but has not delegated them
    with boa.reverts("association: proposer has no voting power"):
        propose_rules(association, request_, alice, 1, 1, 1, 1)
    # current (not past) votes are what count for proposing
    delegate_self(request_.token, alice)
    propose_rules(association, request_, alice, 1, 1, 1, 1)


def test_propose_rules_unknown_database(association, alice, token):
    with boa.env.prank(alice), boa.reverts(UNKNOWN_DATABASE):
        association.proposeRules(token.address, 1, 1, 1, 1, 1)


@pytest.mark.parametrize(
    "rules, message",
    [
        ((10_001, 5000, 5, E), "association: quorum above 100%"),
        ((2000, 0, 5, E), "association: approval must be 1..10000 bps"),
        ((2000, 10_001, 5, E), "association: approval must be 1..10000 bps"),
        ((2000, 5000, 0, E), "association: voting period out of range"),
        ((2000, 5000, 2**32, E), "association: voting period out of range"),
        ((2000, 5000, 5, 0), "association: max shares out of range"),
        ((2000, 5000, 5, SUPPLY_CAP + 1), "association: max shares out of range"),
        ((2000, 5000, 5, E, 10_001), "association: value share above 100%"),
    ],
)
def test_propose_rules_bad_rules(voting, association, alice, rules, message):
    with boa.reverts(message):
        propose_rules(association, voting, alice, *rules)


def test_rules_proposal_lifecycle(voting, association, alice, bob):
    new_rules = (5000, 6000, 9, 3 * E, 2500)
    b = block_number()
    pid = propose_rules(association, voting, bob, *new_rules)
    ev = only_event(association.get_logs(), "ProposalCreated")
    assert (ev.proposalId, ev.database, ev.proposer, ev.kind, ev.body, ev.samples, ev.shares) == (
        pid,
        voting.address,
        bob,
        KIND_RULES,
        pack_rules(*new_rules),
        0,
        0,
    )
    assert (ev.snapshot, ev.deadline) == (b - 1, b + VOTING_PERIOD)
    assert association.proposal(pid) == (voting.address, KIND_RULES, bob, pack_rules(*new_rules), 0, 0)
    vote(association, pid, alice)
    end_voting(association, pid)
    assert association.state(pid) == STATE_SUCCEEDED
    association.execute(pid)
    logs = association.get_logs()
    ch = only_event(logs, "RulesChanged")
    assert (ch.database, ch.quorumBps, ch.approvalBps, ch.votingPeriod, ch.maxShares, ch.valueShareBps) == (
        voting.address,
        *new_rules,
    )
    assert only_event(logs, "ProposalExecuted").proposalId == pid
    assert events(logs, "EntryAppended") == []
    assert events(logs, "Transfer") == []
    assert association.rules(voting.address) == new_rules
    assert association.valueShareBps(voting.address) == 2500
    assert association.state(pid) == STATE_EXECUTED
    # a rules proposal neither mints nor registers anything
    assert voting.token.totalSupply() == BOOTSTRAP
    assert voting.db.entryCount() == 0
    with boa.reverts("association: already executed"):
        association.execute(pid)


def test_new_rules_apply_to_later_proposals_only(voting, association, alice, bob, carol):
    pending = propose(association, voting, carol, cid(1), shares=5 * E)  # under the old rules
    rp = propose_rules(association, voting, alice, 0, 10_000, 2, 4 * E)
    vote(association, rp, alice)
    end_voting(association, rp)
    association.execute(rp)
    # later proposals use the new maximum and voting period
    with boa.reverts("association: shares above the request's maximum"):
        propose(association, voting, carol, cid(2), shares=5 * E)
    b = block_number()
    later = propose(association, voting, carol, cid(2), shares=4 * E)
    assert association.proposalDeadline(later) == b + 2
    # ...and the new approval (100%): a single vote against defeats
    vote(association, later, alice, 1)
    vote(association, later, bob, 0)
    end_voting(association, later)
    assert association.state(later) == STATE_DEFEATED
    # the proposal opened before the change keeps the old quorum and approval (50.01%)
    assert association.proposalDeadline(pending) < block_number()
    assert association.state(pending) == STATE_DEFEATED  # nobody voted on it


def test_pending_proposal_keeps_old_approval(voting, association, alice, bob, carol):
    pending = propose(association, voting, carol, cid(1))
    vote(association, pending, alice, 1)
    vote(association, pending, bob, 0)  # 66.7% approval: passes 50.01%, fails 100%
    rp = propose_rules(association, voting, alice, 0, 10_000, 2, 4 * E)
    vote(association, rp, alice)
    end_voting(association, rp)
    association.execute(rp)
    end_voting(association, pending)
    assert association.state(pending) == STATE_SUCCEEDED
    association.execute(pending)
    assert voting.token.balanceOf(carol) == 5 * E  # shares asked under the old maximum


def test_defeated_rules_proposal_changes_nothing(voting, association, alice, bob):
    pid = propose_rules(association, voting, bob, 0, 1, 1, 1)
    vote(association, pid, alice, 0)
    end_voting(association, pid)
    with boa.reverts(DEFEATED):
        association.execute(pid)
    assert association.rules(voting.address) == (QUORUM_BPS, APPROVAL_BPS, VOTING_PERIOD, MAX_SHARES, VALUE_SHARE_BPS)


# ---------------------------------------------------------------- several requests


def test_two_requests_are_independent(voting, create_request, association, alice, bob, carol, dave):
    second = create_request(
        [carol, dave],
        [10 * E, 10 * E],
        quorum=0,
        approval=10_000,
        period=3,
        max_shares=7 * E,
        name="faces",
        symbol="FCE",
        spec=b"\x02" * 32,
    )
    assert association.requestCount() == 2
    assert association.requestAt(0) == voting.address
    assert association.requestAt(1) == second.address
    assert second.token.address != voting.token.address
    assert association.rules(second.address) == (0, 10_000, 3, 7 * E, VALUE_SHARE_BPS)
    assert association.rules(voting.address) == (QUORUM_BPS, APPROVAL_BPS, VOTING_PERIOD, MAX_SHARES, VALUE_SHARE_BPS)
    assert second.token.balanceOf(alice) == 0
    assert voting.token.balanceOf(carol) == 0
    delegate_self(second.token, carol, dave)
    mine()
    # the same cid may be proposed to both; each is weighed by its own token
    p1 = propose(association, voting, carol, cid(9), shares=5 * E)
    p2 = propose(association, second, alice, cid(9), shares=7 * E)
    with boa.reverts(NO_POWER):
        vote(association, p2, alice)
    with boa.reverts(NO_POWER):
        vote(association, p1, carol)
    assert vote(association, p1, alice) == ALICE_SHARES
    assert vote(association, p2, carol) == 10 * E
    assert association.proposalDeadline(p2) == block_number() + 3
    end_voting(association, p1)
    association.execute(p1)
    association.execute(p2)
    assert voting.db.entry(0)[:2] == (cid(9), carol)
    assert second.db.entry(0)[:2] == (cid(9), alice)
    assert voting.token.balanceOf(carol) == 5 * E
    assert second.token.balanceOf(alice) == 7 * E
    assert voting.token.totalSupply() == BOOTSTRAP + 5 * E
    assert second.token.totalSupply() == 27 * E
    # a rules change of one request leaves the other untouched
    rp = propose_rules(association, second, dave, 100, 100, 100, 100)
    vote(association, rp, dave)
    end_voting(association, rp)
    association.execute(rp)
    assert association.rules(second.address) == (100, 100, 100, 100, VALUE_SHARE_BPS)
    assert association.rules(voting.address) == (QUORUM_BPS, APPROVAL_BPS, VOTING_PERIOD, MAX_SHARES, VALUE_SHARE_BPS)
