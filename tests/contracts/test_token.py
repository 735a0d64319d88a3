"""CuratorToken: ERC-20, ERC-5805 votes, ERC-6372 clock and ERC-1726-style dividends."""

from __future__ import annotations

import math
from fractions import Fraction

import boa
import pytest
from eth_abi import decode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import (
    ALICE_SHARES,
    BOB_SHARES,
    BOOTSTRAP,
    MAGNITUDE,
    SUPPLY_CAP,
    ZERO,
    E,
    block_number,
    events,
    mine,
    only_event,
)

FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def dps(value: int, supply: int) -> int:
    """The increase of the dividend-per-share accumulator for one distribution."""
    return value * MAGNITUDE // supply


def accrued(*held: tuple[int, int]) -> int:
    """Dividends earned from (accumulator increase, balance held meanwhile) pairs."""
    return sum(d * balance for d, balance in held) // MAGNITUDE


def send_ether(to, sender, value):
    """Plain ether transfer (empty calldata); returns the computation, errors included."""
    return boa.env.execute_code(to_address=to, sender=sender, value=value, data=b"")


def revert_reason(computation) -> str:
    assert computation.is_error
    out = computation.output
    assert out[:4] == bytes.fromhex("08c379a0"), out
    return decode(["string"], out[4:])[0]


def num_checkpoints(token, account) -> int:
    return token._storage._numCheckpoints.get().get(str(boa.util.abi.Address(account)), 0)


# ---------------------------------------------------------------- metadata and deployment


def test_metadata(token, association):
    assert token.name() == "digits"
    assert token.symbol() == "DIG"
    assert token.decimals() == 18
    assert token.ASSOCIATION() == association.address
    assert token.totalSupply() == BOOTSTRAP
    assert token.totalDistributed() == 0


def test_bootstrap_balances(token, alice, bob, carol):
    assert token.balanceOf(alice) == ALICE_SHARES
    assert token.balanceOf(bob) == BOB_SHARES
    assert token.balanceOf(carol) == 0


def test_constructor_rejects_zero_association(token_deployer):
    with boa.reverts("token: zero association"):
        token_deployer.deploy("x", "X", ZERO)


def test_clock_is_block_number(token):
    assert token.clock() == block_number()
    mine(7)
    assert token.clock() == block_number()
    assert token.CLOCK_MODE() == "mode=blocknumber&from=default"


# ---------------------------------------------------------------- mint


def test_mint_only_by_association(token, alice, bob, database):
    for sender in (alice, bob, database.address):
        with boa.env.prank(sender), boa.reverts("token: caller is not the association"):
            token.mint(sender, 1)
    assert token.totalSupply() == BOOTSTRAP


def test_mint_by_association(token, association, carol):
    with boa.env.prank(association.address):
        token.mint(carol, 7 * E)
    logs = token.get_logs()
    ev = only_event(logs, "Transfer")
    assert (ev.sender, ev.receiver, ev.value) == (ZERO, carol, 7 * E)
    # carol has no delegate: no votes move
    assert events(logs, "DelegateVotesChanged") == []
    assert token.balanceOf(carol) == 7 * E
    assert token.totalSupply() == BOOTSTRAP + 7 * E
    assert token.getVotes(carol) == 0


def test_mint_to_delegated_account_adds_votes(token, association, alice, bob):
    with boa.env.prank(alice):
        token.delegate(bob)
    with boa.env.prank(association.address):
        token.mint(alice, 3 * E)
    ev = only_event(token.get_logs(), "DelegateVotesChanged")
    assert (ev.delegate, ev.previousVotes, ev.newVotes) == (bob, ALICE_SHARES, ALICE_SHARES + 3 * E)
    assert token.getVotes(bob) == ALICE_SHARES + 3 * E
    assert token.getVotes(alice) == 0


def test_mint_to_zero_address(token, association):
    with boa.env.prank(association.address), boa.reverts("token: mint to zero address"):
        token.mint(ZERO, 1)


def test_supply_cap(standalone_token, alice, bob):
    t, minter = standalone_token
    with boa.env.prank(minter):
        t.mint(alice, SUPPLY_CAP - 1)
        t.mint(bob, 1)
        assert t.totalSupply() == SUPPLY_CAP
        with boa.reverts("token: supply cap exceeded"):
            t.mint(bob, 1)
    assert t.totalSupply() == SUPPLY_CAP
    assert t.balanceOf(bob) == 1


def test_supply_cap_counts_existing_supply(token, association, carol):
    with boa.env.prank(association.address):
        with boa.reverts("token: supply cap exceeded"):
            token.mint(carol, SUPPLY_CAP - BOOTSTRAP + 1)
        token.mint(carol, SUPPLY_CAP - BOOTSTRAP)
    assert token.totalSupply() == SUPPLY_CAP


def test_supply_cap_overflowing_amount(token, association, carol):
    # totalSupply + amount overflows uint256: a checked-arithmetic revert (no reason string),
    # never a wrap that would slip under the cap
    with boa.env.prank(association.address), boa.reverts(compiler="safeadd"):
        token.mint(carol, 2**256 - 1)
    assert token.totalSupply() == BOOTSTRAP


# ---------------------------------------------------------------- transfer / approve


def test_transfer(token, alice, carol):
    with boa.env.prank(alice):
        assert token.transfer(carol, 10 * E) is True
    ev = only_event(token.get_logs(), "Transfer")
    assert (ev.sender, ev.receiver, ev.value) == (alice, carol, 10 * E)
    assert token.balanceOf(alice) == ALICE_SHARES - 10 * E
    assert token.balanceOf(carol) == 10 * E
    assert token.totalSupply() == BOOTSTRAP


def test_transfer_whole_balance_and_zero(token, alice, carol):
    with boa.env.prank(alice):
        token.transfer(carol, ALICE_SHARES)
        token.transfer(carol, 0)
    assert token.balanceOf(alice) == 0
    assert token.balanceOf(carol) == ALICE_SHARES


def test_transfer_to_self(token, alice):
    with boa.env.prank(alice):
        token.delegate(alice)
        token.transfer(alice, 40 * E)
    assert token.balanceOf(alice) == ALICE_SHARES
    assert token.getVotes(alice) == ALICE_SHARES
    assert events(token.get_logs(), "DelegateVotesChanged") == []


def test_transfer_insufficient_balance(token, alice, carol):
    with boa.env.prank(alice), boa.reverts("token: insufficient balance"):
        token.transfer(carol, ALICE_SHARES + 1)
    with boa.env.prank(carol), boa.reverts("token: insufficient balance"):
        token.transfer(alice, 1)


def test_transfer_to_zero_address(token, alice):
    with boa.env.prank(alice), boa.reverts("token: transfer to zero address"):
        token.transfer(ZERO, 1)


def test_approve(token, alice, carol):
    with boa.env.prank(alice):
        assert token.approve(carol, 5 * E) is True
    ev = only_event(token.get_logs(), "Approval")
    assert (ev.owner, ev.spender, ev.value) == (alice, carol, 5 * E)
    assert token.allowance(alice, carol) == 5 * E
    with boa.env.prank(alice):
        token.approve(carol, 0)
    assert token.allowance(alice, carol) == 0


def test_approve_zero_spender(token, alice):
    with boa.env.prank(alice), boa.reverts("token: approve to zero address"):
        token.approve(ZERO, 1)


def test_transfer_from(token, alice, bob, carol):
    with boa.env.prank(alice):
        token.approve(carol, 30 * E)
    with boa.env.prank(carol):
        assert token.transferFrom(alice, bob, 20 * E) is True
    logs = token.get_logs()
    ev = only_event(logs, "Transfer")
    assert (ev.sender, ev.receiver, ev.value) == (alice, bob, 20 * E)
    assert events(logs, "Approval") == []
    assert token.allowance(alice, carol) == 10 * E
    assert token.balanceOf(alice) == ALICE_SHARES - 20 * E
    assert token.balanceOf(bob) == BOB_SHARES + 20 * E


def test_transfer_from_insufficient_allowance(token, alice, bob, carol):
    with boa.env.prank(alice):
        token.approve(carol, 5)
    with boa.env.prank(carol), boa.reverts("token: insufficient allowance"):
        token.transferFrom(alice, bob, 6)
    # the owner itself needs an allowance too
    with boa.env.prank(alice), boa.reverts("token: insufficient allowance"):
        token.transferFrom(alice, bob, 1)
    assert token.allowance(alice, carol) == 5


def test_transfer_from_insufficient_balance(token, alice, bob, carol):
    with boa.env.prank(alice):
        token.approve(carol, 2 * ALICE_SHARES)
    with boa.env.prank(carol), boa.reverts("token: insufficient balance"):
        token.transferFrom(alice, bob, ALICE_SHARES + 1)
    assert token.allowance(alice, carol) == 2 * ALICE_SHARES


def test_transfer_from_to_zero_address(token, alice, carol):
    with boa.env.prank(alice):
        token.approve(carol, 10)
    with boa.env.prank(carol), boa.reverts("token: transfer to zero address"):
        token.transferFrom(alice, ZERO, 1)


def test_infinite_allowance_is_not_decremented(token, alice, bob, carol):
    inf = 2**256 - 1
    with boa.env.prank(alice):
        token.approve(carol, inf)
    with boa.env.prank(carol):
        token.transferFrom(alice, bob, 60 * E)
        token.transferFrom(alice, bob, 40 * E)
    assert token.allowance(alice, carol) == inf
    assert token.balanceOf(alice) == 0
    with boa.env.prank(carol), boa.reverts("token: insufficient balance"):
        token.transferFrom(alice, bob, 1)


# ---------------------------------------------------------------- delegation and votes


def test_no_votes_before_delegation(token, alice, bob):
    assert token.delegates(alice) == ZERO
    assert token.getVotes(alice) == 0
    assert token.getVotes(bob) == 0
    assert token.getVotes(ZERO) == 0


def test_self_delegation(token, alice):
    with boa.env.prank(alice):
        token.delegate(alice)
    logs = token.get_logs()
    dc = only_event(logs, "DelegateChanged")
    assert (dc.delegator, dc.fromDelegate, dc.toDelegate) == (alice, ZERO, alice)
    dv = only_event(logs, "DelegateVotesChanged")
    assert (dv.delegate, dv.previousVotes, dv.newVotes) == (alice, 0, ALICE_SHARES)
    assert token.delegates(alice) == alice
    assert token.getVotes(alice) == ALICE_SHARES


def test_redelegation_moves_votes(token, alice, bob, carol):
    with boa.env.prank(bob):
        token.delegate(bob)
    with boa.env.prank(alice):
        token.delegate(alice)
        token.delegate(carol)
    logs = token.get_logs()
    dc = only_event(logs, "DelegateChanged")
    assert (dc.delegator, dc.fromDelegate, dc.toDelegate) == (alice, alice, carol)
    moved = [(e.delegate, e.previousVotes, e.newVotes) for e in events(logs, "DelegateVotesChanged")]
    assert moved == [(alice, ALICE_SHARES, 0), (carol, 0, ALICE_SHARES)]
    assert token.getVotes(alice) == 0
    assert token.getVotes(carol) == ALICE_SHARES
    with boa.env.prank(alice):
        token.delegate(bob)
    assert token.getVotes(carol) == 0
    assert token.getVotes(bob) == BOOTSTRAP


def test_undelegate_to_zero_address(token, alice):
    with boa.env.prank(alice):
        token.delegate(alice)
        token.delegate(ZERO)
    logs = token.get_logs()
    dc = only_event(logs, "DelegateChanged")
    assert (dc.delegator, dc.fromDelegate, dc.toDelegate) == (alice, alice, ZERO)
    dv = only_event(logs, "DelegateVotesChanged")
    assert (dv.delegate, dv.previousVotes, dv.newVotes) == (alice, ALICE_SHARES, 0)
    assert token.delegates(alice) == ZERO
    assert token.getVotes(alice) == 0
    assert token.getVotes(ZERO) == 0


def test_delegate_same_delegate_twice_moves_nothing(token, alice):
    with boa.env.prank(alice):
        token.delegate(alice)
        token.delegate(alice)
    logs = token.get_logs()
    assert len(events(logs, "DelegateChanged")) == 1
    assert events(logs, "DelegateVotesChanged") == []
    assert token.getVotes(alice) == ALICE_SHARES


def test_delegate_without_balance(token, carol, alice):
    with boa.env.prank(carol):
        token.delegate(alice)
    logs = token.get_logs()
    assert len(events(logs, "DelegateChanged")) == 1
    assert events(logs, "DelegateVotesChanged") == []
    assert token.getVotes(alice) == 0


def test_transfer_moves_votes_between_delegates(token, alice, bob, carol):
    with boa.env.prank(alice):
        token.delegate(alice)
    with boa.env.prank(bob):
        token.delegate(carol)
    with boa.env.prank(alice):
        token.transfer(bob, 10 * E)
    moved = [(e.delegate, e.previousVotes, e.newVotes) for e in events(token.get_logs(), "DelegateVotesChanged")]
    assert moved == [(alice, ALICE_SHARES, ALICE_SHARES - 10 * E), (carol, BOB_SHARES, BOB_SHARES + 10 * E)]
    assert token.getVotes(alice) == ALICE_SHARES - 10 * E
    assert token.getVotes(carol) == BOB_SHARES + 10 * E


def test_transfer_to_undelegated_holder_drops_votes(token, alice, carol):
    with boa.env.prank(alice):
        token.delegate(alice)
        token.transfer(carol, 25 * E)
    dv = only_event(token.get_logs(), "DelegateVotesChanged")
    assert (dv.delegate, dv.previousVotes, dv.newVotes) == (alice, ALICE_SHARES, ALICE_SHARES - 25 * E)
    assert token.getVotes(carol) == 0
    # and carol's tokens count once she delegates
    with boa.env.prank(carol):
        token.delegate(carol)
    assert token.getVotes(carol) == 25 * E


def test_future_lookup(token, alice):
    now = block_number()
    for t in (now, now + 1, 2**256 - 1):
        with boa.reverts("token: future lookup"):
            token.getPastVotes(alice, t)
        with boa.reverts("token: future lookup"):
            token.getPastTotalSupply(t)
    assert token.getPastVotes(alice, now - 1) == 0
    assert token.getPastTotalSupply(now - 1) == 0  # the request was created in this block
    mine()
    assert token.getPastTotalSupply(now) == BOOTSTRAP


def test_past_votes_of_zero_address(token, alice):
    with boa.env.prank(alice):
        token.delegate(alice)
    mine()
    assert token.getPastVotes(ZERO, block_number() - 1) == 0
    assert token.getPastTotalSupply(block_number() - 1) == BOOTSTRAP


def test_past_votes_track_blocks(token, alice, bob):
    b0 = block_number()
    with boa.env.prank(alice):
        token.delegate(alice)
    mine(3)
    b1 = block_number()
    with boa.env.prank(alice):
        token.transfer(bob, 30 * E)
    mine(2)
    b2 = block_number()
    with boa.env.prank(bob):
        token.transfer(alice, 5 * E)
    mine()
    assert token.getPastVotes(alice, b0 - 1) == 0
    assert token.getPastVotes(alice, b0) == ALICE_SHARES
    assert token.getPastVotes(alice, b1 - 1) == ALICE_SHARES
    assert token.getPastVotes(alice, b1) == ALICE_SHARES - 30 * E
    assert token.getPastVotes(alice, b1 + 1) == ALICE_SHARES - 30 * E
    assert token.getPastVotes(alice, b2) == ALICE_SHARES - 25 * E
    assert token.getVotes(alice) == ALICE_SHARES - 25 * E


def test_several_checkpoints_in_one_block(token, alice, bob, carol):
    with boa.env.prank(alice):
        token.delegate(alice)
    mine()
    b = block_number()
    before = num_checkpoints(token, alice)
    with boa.env.prank(alice):
        token.transfer(bob, 1 * E)
        token.transfer(carol, 2 * E)
    with boa.env.prank(bob):
        token.transfer(alice, 1 * E)
    with boa.env.prank(alice):
        token.transfer(carol, 4 * E)
    # one checkpoint per block: the four changes of block b share one slot
    assert num_checkpoints(token, alice) == before + 1
    assert token.getVotes(alice) == ALICE_SHARES - 6 * E
    mine()
    assert token.getPastVotes(alice, b - 1) == ALICE_SHARES
    assert token.getPastVotes(alice, b) == ALICE_SHARES - 6 * E


def test_supply_checkpoints_in_one_block(standalone_token, alice):
    t, minter = standalone_token
    b = block_number()
    with boa.env.prank(minter):
        t.mint(alice, 1)
        t.mint(alice, 2)
    mine()
    with boa.env.prank(minter):
        t.mint(alice, 4)
    mine()
    assert num_checkpoints(t, ZERO) == 2
    assert t.getPastTotalSupply(b - 1) == 0
    assert t.getPastTotalSupply(b) == 3
    assert t.getPastTotalSupply(b + 1) == 7


def test_binary_search_over_many_checkpoints(token, alice, bob):
    """60 checkpoints with gaps of 1-3 blocks; every past block must resolve exactly."""
    with boa.env.prank(alice):
        token.delegate(alice)
    expected: dict[int, int] = {}
    start = block_number()
    votes = ALICE_SHARES
    for i in range(60):
        b = block_number()
        amount = (i % 7 + 1) * 10**15
        if i % 2 == 0:
            with boa.env.prank(alice):
                token.transfer(bob, amount)
            votes -= amount
        else:
            with boa.env.prank(bob):
                token.transfer(alice, amount)
            votes += amount
        gap = i % 3 + 1
        for k in range(gap):
            expected[b + k] = votes
        mine(gap)
    # the delegation and the first move share block `start`, hence one checkpoint per move
    assert num_checkpoints(token, alice) == 60
    assert token.getPastVotes(alice, start - 1) == 0
    for b, v in expected.items():
        assert token.getPastVotes(alice, b) == v, b
    assert token.getPastVotes(bob, start - 1) == 0  # bob never delegated
    assert token.getPastTotalSupply(start) == BOOTSTRAP


# ---------------------------------------------------------------- dividends


def test_distribute_requires_one_whole_share(standalone_token, alice):
    t, minter = standalone_token
    for supply in (0, 1, 10**18 - 1):
        with boa.env.prank(minter):
            t.mint(alice, supply - t.totalSupply())
        with boa.env.prank(alice), boa.reverts("token: less than one share to pay"):
            t.distribute(value=E)
        assert revert_reason(send_ether(t.address, alice, E)) == "token: less than one share to pay"
    with boa.env.prank(minter):
        t.mint(alice, 1)
    with boa.env.prank(alice):
        t.distribute(value=E)
    assert t.withdrawableDividendOf(alice) == E


def test_distribute_requires_value(token, alice):
    with boa.env.prank(alice), boa.reverts("token: nothing to distribute"):
        token.distribute()
    assert revert_reason(send_ether(token.address, alice, 0)) == "token: nothing to distribute"


def test_distribute(token, alice, bob, carol):
    with boa.env.prank(carol):
        token.distribute(value=3 * E)
    ev = only_event(token.get_logs(), "DividendsDistributed")
    assert (ev.sender, ev.weiAmount) == (carol, 3 * E)
    assert token.totalDistributed() == 3 * E
    assert boa.env.get_balance(token.address) == 3 * E
    d = dps(3 * E, BOOTSTRAP)
    # 2**128 / 50 is not an integer, so each holder loses (under) one wei to rounding
    assert token.withdrawableDividendOf(alice) == accrued((d, ALICE_SHARES)) == 2 * E - 1
    assert token.withdrawableDividendOf(bob) == accrued((d, BOB_SHARES)) == 1 * E - 1
    assert token.accumulativeDividendOf(alice) == 2 * E - 1
    assert token.withdrawnDividendOf(alice) == 0
    assert token.withdrawableDividendOf(carol) == 0


def test_distribute_splits_exactly_when_divisible(standalone_token, alice, bob, carol):
    t, minter = standalone_token
    with boa.env.prank(minter):
        t.mint(alice, 3 * 2**60)
        t.mint(bob, 2**60)
    with boa.env.prank(carol):
        t.distribute(value=4 * E)
    assert t.withdrawableDividendOf(alice) == 3 * E
    assert t.withdrawableDividendOf(bob) == 1 * E


def test_plain_ether_is_distributed(token, alice, bob, carol):
    comp = boa.env.raw_call(token.address, sender=carol, value=3 * E)
    ev = only_event(token.get_logs(computation=comp), "DividendsDistributed")
    assert (ev.sender, ev.weiAmount) == (carol, 3 * E)
    assert token.totalDistributed() == 3 * E
    assert boa.env.get_balance(token.address) == 3 * E
    d = dps(3 * E, BOOTSTRAP)
    assert token.withdrawableDividendOf(alice) == accrued((d, ALICE_SHARES))
    assert token.withdrawableDividendOf(bob) == accrued((d, BOB_SHARES))


def test_withdraw_dividend(token, alice, bob, carol):
    with boa.env.prank(carol):
        token.distribute(value=3 * E)
    due = accrued((dps(3 * E, BOOTSTRAP), ALICE_SHARES))
    before = boa.env.get_balance(alice)
    with boa.env.prank(alice):
        token.withdrawDividend()
    ev = only_event(token.get_logs(), "DividendWithdrawn")
    assert (ev.receiver, ev.weiAmount) == (alice, due)
    assert boa.env.get_balance(alice) == before + due
    assert boa.env.get_balance(token.address) == 3 * E - due
    assert token.withdrawnDividendOf(alice) == due
    assert token.withdrawableDividendOf(alice) == 0
    assert token.accumulativeDividendOf(alice) == due
    # withdrawn dividends live in the high half of the balance word: the balance is intact
    assert token.balanceOf(alice) == ALICE_SHARES
    with boa.env.prank(alice), boa.reverts("token: nothing to withdraw"):
        token.withdrawDividend()
    # a later distribution is withdrawable again
    with boa.env.prank(carol):
        token.distribute(value=3 * E)
    total = accrued((2 * dps(3 * E, BOOTSTRAP), ALICE_SHARES))
    assert token.accumulativeDividendOf(alice) == total
    assert token.withdrawableDividendOf(alice) == total - due


def test_shares_and_withdrawn_dividends_share_a_word(token, alice, bob, carol):
    """Withdrawn dividends live in the high half of the account word: delegating, transferring
    and voting after a withdrawal must see the balance only."""
    with boa.env.prank(carol):
        token.distribute(value=3 * E)
    with boa.env.prank(alice):
        token.withdrawDividend()
        token.delegate(alice)
    assert token.getVotes(alice) == ALICE_SHARES
    with boa.env.prank(alice):
        token.transfer(bob, ALICE_SHARES)
    assert token.balanceOf(alice) == 0
    assert token.balanceOf(bob) == BOOTSTRAP
    assert token.getVotes(alice) == 0
    assert token.withdrawnDividendOf(alice) == accrued((dps(3 * E, BOOTSTRAP), ALICE_SHARES))
    assert token.withdrawnDividendOf(bob) == 0


def test_withdraw_nothing(token, alice, carol):
    with boa.env.prank(alice), boa.reverts("token: nothing to withdraw"):
        token.withdrawDividend()
    with boa.env.prank(alice):
        token.distribute(value=E)
    with boa.env.prank(carol), boa.reverts("token: nothing to withdraw"):
        token.withdrawDividend()


def test_new_shares_do_not_earn_past_dividends(token, association, alice, carol):
    with boa.env.prank(alice):
        token.distribute(value=3 * E)
    d1 = dps(3 * E, BOOTSTRAP)
    with boa.env.prank(association.address):
        token.mint(carol, 150 * E)
    assert token.accumulativeDividendOf(carol) == 0
    assert token.withdrawableDividendOf(alice) == accrued((d1, ALICE_SHARES))
    with boa.env.prank(alice):
        token.distribute(value=3 * E)
    d2 = dps(3 * E, BOOTSTRAP + 150 * E)
    assert token.withdrawableDividendOf(carol) == accrued((d2, 150 * E))
    assert token.withdrawableDividendOf(alice) == accrued((d1 + d2, ALICE_SHARES))
    assert 3 * E - 1 <= token.withdrawableDividendOf(alice) <= 3 * E


def test_transfer_keeps_accrued_dividends(token, alice, bob, carol):
    with boa.env.prank(carol):
        token.distribute(value=3 * E)
    d1 = dps(3 * E, BOOTSTRAP)
    with boa.env.prank(alice):
        token.transfer(carol, ALICE_SHARES)
    assert token.withdrawableDividendOf(alice) == accrued((d1, ALICE_SHARES))
    assert token.withdrawableDividendOf(carol) == 0
    # the receiver earns from distributions after the transfer, the sender no longer does
    with boa.env.prank(bob):
        token.distribute(value=3 * E)
    d2 = dps(3 * E, BOOTSTRAP)
    assert token.withdrawableDividendOf(alice) == accrued((d1, ALICE_SHARES))
    assert token.withdrawableDividendOf(carol) == accrued((d2, ALICE_SHARES))
    assert token.withdrawableDividendOf(bob) == accrued((d1 + d2, BOB_SHARES))
    with boa.env.prank(alice):
        token.withdrawDividend()
    assert token.withdrawnDividendOf(alice) == accrued((d1, ALICE_SHARES))


@FUZZ
@given(
    dist1=st.integers(1, 10**24),
    amount=st.integers(0, ALICE_SHARES),
    dist2=st.integers(0, 10**24),
    withdraw_first=st.booleans(),
)
def test_transfer_never_changes_accrued_dividends(
    token, alice, bob, make_account, dist1, amount, dist2, withdraw_first
):
    payer = make_account(ether=10**7)
    with boa.env.prank(payer):
        token.distribute(value=dist1)
    if withdraw_first and token.withdrawableDividendOf(alice) > 0:
        with boa.env.prank(alice):
            token.withdrawDividend()
    if dist2:
        with boa.env.prank(payer):
            token.distribute(value=dist2)
    acc = {who: token.accumulativeDividendOf(who) for who in (alice, bob)}
    withdrawable = {who: token.withdrawableDividendOf(who) for who in (alice, bob)}
    with boa.env.prank(alice):
        token.transfer(bob, amount)
    for who in (alice, bob):
        assert token.accumulativeDividendOf(who) == acc[who]
        assert token.withdrawableDividendOf(who) == withdrawable[who]
    # each side holds what it earned pro rata, less under one wei of rounding
    ideal = Fraction(dist1 + dist2) * ALICE_SHARES / BOOTSTRAP
    assert math.floor(ideal) - 1 <= acc[alice] <= ideal
    d = dps(dist1, BOOTSTRAP) + dps(dist2, BOOTSTRAP)
    assert acc[alice] == accrued((d, ALICE_SHARES))
    assert acc[bob] == accrued((d, BOB_SHARES))


def test_dividend_rounding_never_overpays(token, alice, bob, carol):
    # 1 wei cannot be split 2:1; nobody may be paid more than was distributed, and the
    # magnified accumulator keeps the fractions, so the loss is under one wei per holder in
    # total, not one wei per holder per distribution
    with boa.env.prank(carol):
        for _ in range(5):
            token.distribute(value=1)
    assert token.accumulativeDividendOf(alice) == 3  # floor(5 * 2/3)
    assert token.accumulativeDividendOf(bob) == 1  # floor(5 * 1/3)
    assert boa.env.get_balance(token.address) == 5


# ---------------------------------------------------------------- re-entrancy

ATTACKER = """
# pragma version ~=0.4.3
interface Token:
    def withdrawDividend(): nonpayable

token: public(address)
swallow: public(bool)
calls: public(uint256)
reentryOk: public(bool)

@deploy
def __init__(token_: address):
    self.token = token_

@external
def attack(swallow_: bool):
    self.swallow = swallow_
    extcall Token(self.token).withdrawDividend()

@external
@payable
def __default__():
    self.calls += 1
    if self.calls > 1:
        return
    if self.swallow:
        # re-enter, but survive a failed re-entry and keep what the first call paid
        self.reentryOk = raw_call(self.token, method_id("withdrawDividend()"), revert_on_failure=False)
    else:
        extcall Token(self.token).withdrawDividend()
"""


ATTACKER_SHARES = 50 * E
DUE = accrued((dps(3 * E, BOOTSTRAP), ATTACKER_SHARES))  # one third of 3 ether, less one wei


@pytest.fixture
def attacker(token, alice, carol):
    att = boa.loads(ATTACKER, token.address)
    with boa.env.prank(alice):
        token.transfer(att.address, ATTACKER_SHARES)  # the attacker holds 1/3 of the shares
    with boa.env.prank(carol):
        token.distribute(value=3 * E)
    assert token.withdrawableDividendOf(att.address) == DUE
    return att


def test_reentrancy_bubbling_reverts_whole_withdrawal(token, attacker):
    # the re-entrant call hits the lock, the attacker's fallback bubbles the revert up, the
    # token's raw_call fails and the whole withdrawal reverts: nothing moves
    with boa.reverts():
        attacker.attack(False)
    assert boa.env.get_balance(attacker.address) == 0
    assert boa.env.get_balance(token.address) == 3 * E
    assert token.withdrawableDividendOf(attacker.address) == DUE
    assert token.withdrawnDividendOf(attacker.address) == 0


def test_reentrancy_swallowed_gets_only_its_due(token, attacker):
    attacker.attack(True)
    assert attacker.calls() == 1  # the fallback ran once: the re-entry never paid out
    assert attacker.reentryOk() is False
    assert boa.env.get_balance(attacker.address) == DUE
    assert boa.env.get_balance(token.address) == 3 * E - DUE
    assert token.withdrawnDividendOf(attacker.address) == DUE
    assert token.withdrawableDividendOf(attacker.address) == 0
    with boa.reverts("token: nothing to withdraw"):
        attacker.attack(True)


# ---------------------------------------------------------------- accumulator headroom


def test_tiny_supply_cannot_receive_dividends(create_request, association, alice, bob):
    """Regression: a request bootstrapped with 1 share *unit* used to accept 1 ether of dividends,
    which pushed `_dividendPerShare` to ~2**188; any later mint or transfer of >= ~2**67 units
    (the execution of a passed data proposal for 200 shares) then overflowed int256 and
    reverted forever. Distributions now need one whole share (10**18 units) outstanding."""
    req = create_request([alice], [1], max_shares=10**6 * E)
    with boa.env.prank(bob), boa.reverts("token: less than one share to pay"):
        req.token.distribute(value=E)
    with boa.env.prank(association.address):
        req.token.mint(bob, 200 * E)
    assert req.token.balanceOf(bob) == 200 * E


def test_large_mint_after_heavy_dividends_on_one_share(standalone_token, make_account, alice, bob):
    """With the minimum supply of one share, 2e9 ether of dividends still leave room to mint up
    to the supply cap and to move the whole supply."""
    t, minter = standalone_token
    whale = make_account(ether=3 * 10**9)
    with boa.env.prank(minter):
        t.mint(alice, 10**18)
    with boa.env.prank(whale):
        t.distribute(value=2 * 10**9 * E)
    with boa.env.prank(minter):
        t.mint(bob, SUPPLY_CAP - 10**18)
    with boa.env.prank(bob):
        t.transfer(alice, SUPPLY_CAP - 10**18)
    assert t.accumulativeDividendOf(alice) == 2 * 10**9 * E
    assert t.accumulativeDividendOf(bob) == 0
    assert t.totalSupply() == SUPPLY_CAP
