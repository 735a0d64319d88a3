"""Stateful property tests (hypothesis RuleBasedStateMachine) of the token and the association.

Each machine keeps a plain-Python model next to the contracts and checks the contracts
against it: cheap invariants after every step, the values a rule changes inside that rule, and
everything once more in ``teardown``. Every example runs inside its own ``boa.env.anchor()`` (opened in
``__init__``, closed in ``teardown``), on top of the anchor titanoboa's pytest plugin already
wraps around each hypothesis example, so examples never see each other's blocks or balances.

Dividend rounding bound (documented here because the contract's docstring is terse):
every distribution of v wei over supply S adds d = floor(v * 2**128 / S) to the accumulator,
and transfers/mints adjust per-holder corrections *exactly*, so holder i's magnified total is
x_i = sum_d d * b_i,d (b_i,d = its balance at distribution d). Its ideal share is
I_i = sum_d v * b_i,d / S, and I_i * 2**128 - sum_d b_i,d <= x_i <= I_i * 2**128. The accumulator
therefore loses at most sum_d S_d / 2**128 wei over all holders (< 2**-32 wei per distribution
with the supply cap of 2**96), and the only visible loss is the final floor division
accumulativeDividendOf = floor(x_i / 2**128). Hence, per holder,
    floor(I_i) - 1 <= accumulativeDividendOf(i) <= floor(I_i)
(the -1 only when I_i is an integer or lies less than sum_d b_i,d / 2**128 above one), and in
total
    totalDistributed - H <= sum_i (withdrawn_i + withdrawable_i) <= totalDistributed
where H is the number of accounts that ever held shares. The loss is under one wei per holder
over the token's whole life, not one wei per holder per distribution.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar

import boa
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from .conftest import ZERO, E, block_number, open_anchor

N_ACCOUNTS = 4
MIN_DIVIDEND_SUPPLY = 10**18  # CuratorToken pays dividends only with one whole share outstanding
ACCOUNT = st.integers(0, N_ACCOUNTS - 1)
DELEGATEE = st.integers(-1, N_ACCOUNTS - 1)  # -1: the zero address (revoke)
BLOCKS = st.integers(1, 3)
# share of a balance to move, in thousandths; above 1000 asks for more than the balance
PERMILLE_OVER = st.one_of(st.integers(0, 1000), st.integers(1001, 1200))

# sized for the whole contracts suite to stay well under a minute on two cores; database=None
# keeps hypothesis from writing an example database into the working tree
TOKEN_SETTINGS = settings(max_examples=35, stateful_step_count=15, deadline=None, database=None)
ASSOCIATION_SETTINGS = settings(max_examples=40, stateful_step_count=15, deadline=None, database=None)


def expect_revert(message, fn, *args, **kwargs):
    with boa.reverts(message):
        fn(*args, **kwargs)


# ================================================================ token


class TokenMachine(RuleBasedStateMachine):
    # set by the test function: a fresh token (deployed once, untouched: each example starts
    # from it inside an anchor), its association (`minter`), holders and a rich payer
    token = None
    accounts: ClassVar[list] = []
    minter = None
    payer = None

    def __init__(self):
        super().__init__()
        open_anchor(self, self._initial_state)

    def _initial_state(self):
        boa.env.set_balance(self.payer, 10**12 * E)
        self.balance = dict.fromkeys(self.accounts, 0)
        self.delegate_of = dict.fromkeys(self.accounts, ZERO)
        self.allowance: dict[tuple, int] = {}
        self.supply = 0
        self.ideal = dict.fromkeys(self.accounts, Fraction(0))
        self.withdrawn = dict.fromkeys(self.accounts, 0)
        self.ether = {a: boa.env.get_balance(a) for a in self.accounts}
        self.distributed = 0
        self.ever_held: set = set()
        # (account or None for the supply, block) -> value read once the block had ended
        self.history: dict[tuple, int] = {}
        # start below one whole share (distributions revert), then cross it and pay once, so
        # that every example has dividends to withdraw and most distributions go through
        self.mint(1, 3)
        self.distribute(E, False)
        assert self.distributed == 0
        self.mint(0, 100 * E)
        self.distribute(E, False)

    def teardown(self):
        try:
            self._check_history()
            for a in self.accounts:
                assert self.token.withdrawnDividendOf(a) == self.withdrawn[a]
                assert self.token.withdrawableDividendOf(a) == (
                    self.token.accumulativeDividendOf(a) - self.withdrawn[a]
                )
                assert self.token.delegates(a) == self.delegate_of[a]
            assert self.token.getVotes(ZERO) == 0
        finally:
            self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------ model helpers

    def votes(self, who):
        return sum(b for a, b in self.balance.items() if self.delegate_of[a] == who)

    def _move(self, src, dst, amount):
        self.balance[src] -= amount
        self.balance[dst] += amount
        if amount:
            self.ever_held.add(dst)

    # ------------------------------------------------------------ rules

    @rule(to=ACCOUNT, amount=st.one_of(st.integers(0, 1000), st.integers(0, 10**24)), stranger=st.integers(0, 4))
    def mint(self, to, amount, stranger=0):
        to = self.accounts[to]
        if stranger == 1:  # one time in five, a holder tries to mint for itself
            with boa.env.prank(to):
                expect_revert("token: caller is not the association", self.token.mint, to, amount)
            return
        with boa.env.prank(self.minter):
            self.token.mint(to, amount)
        self.supply += amount
        self.balance[to] += amount
        if amount:
            self.ever_held.add(to)

    @rule(src=ACCOUNT, dst=ACCOUNT, permille=PERMILLE_OVER)
    def transfer(self, src, dst, permille):
        src, dst = self.accounts[src], self.accounts[dst]
        amount = self.balance[src] * permille // 1000 if self.balance[src] else permille // 400
        before = {a: self.token.accumulativeDividendOf(a) for a in (src, dst)}
        with boa.env.prank(src):
            if amount > self.balance[src]:
                expect_revert("token: insufficient balance", self.token.transfer, dst, amount)
                return
            self.token.transfer(dst, amount)
        self._move(src, dst, amount)
        for a in (src, dst):
            assert self.token.accumulativeDividendOf(a) == before[a]

    @rule(owner=ACCOUNT, spender=ACCOUNT, amount=st.one_of(st.integers(0, 10**24), st.just(2**256 - 1)))
    def approve(self, owner, spender, amount):
        owner, spender = self.accounts[owner], self.accounts[spender]
        with boa.env.prank(owner):
            self.token.approve(spender, amount)
        self.allowance[owner, spender] = amount

    @rule(data=st.data(), dst=ACCOUNT, permille=PERMILLE_OVER)
    def transfer_from(self, data, dst, permille):
        # usually an approved (owner, spender) pair, sometimes any
        pairs = [pair for pair, allowed in self.allowance.items() if allowed]
        if not pairs or data.draw(st.integers(0, 3), label="any pair") == 0:
            pairs = [(o, sp) for o in self.accounts for sp in self.accounts]
        owner, spender = data.draw(st.sampled_from(pairs), label="owner, spender")
        dst = self.accounts[dst]
        amount = self.balance[owner] * permille // 1000
        allowed = self.allowance.get((owner, spender), 0)
        before = {a: self.token.accumulativeDividendOf(a) for a in (owner, dst)}
        with boa.env.prank(spender):
            if allowed != 2**256 - 1 and allowed < amount:
                expect_revert("token: insufficient allowance", self.token.transferFrom, owner, dst, amount)
                return
            if amount > self.balance[owner]:
                expect_revert("token: insufficient balance", self.token.transferFrom, owner, dst, amount)
                return
            self.token.transferFrom(owner, dst, amount)
        if allowed != 2**256 - 1:
            self.allowance[owner, spender] = allowed - amount
        self._move(owner, dst, amount)
        for a in (owner, dst):
            assert self.token.accumulativeDividendOf(a) == before[a]

    @rule(holder=ACCOUNT, delegatee=DELEGATEE)
    def delegate(self, holder, delegatee):
        holder = self.accounts[holder]
        target = ZERO if delegatee < 0 else self.accounts[delegatee]
        with boa.env.prank(holder):
            self.token.delegate(target)
        self.delegate_of[holder] = target
        assert self.token.delegates(holder) == target

    @rule(value=st.one_of(st.integers(0, 1000), st.integers(1, 10**22), st.integers(1, 10**22)), plain=st.booleans())
    def distribute(self, value, plain):
        if plain:
            comp = boa.env.execute_code(to_address=self.token.address, sender=self.payer, value=value)
            if self.supply < MIN_DIVIDEND_SUPPLY or value == 0:
                assert comp.is_error
                return
            assert not comp.is_error
        else:
            with boa.env.prank(self.payer):
                if self.supply < MIN_DIVIDEND_SUPPLY:
                    expect_revert("token: less than one share to pay", self.token.distribute, value=value)
                    return
                if value == 0:
                    expect_revert("token: nothing to distribute", self.token.distribute, value=value)
                    return
                self.token.distribute(value=value)
        self.distributed += value
        for a, b in self.balance.items():
            self.ideal[a] += Fraction(value * b, self.supply)

    @rule(data=st.data())
    def withdraw(self, data):
        # usually an account with something to withdraw, sometimes any
        owed = [a for a in self.accounts if math.floor(self.ideal[a]) > self.withdrawn[a] + 1]
        if not owed or data.draw(st.integers(0, 3), label="anyone") == 0:
            owed = self.accounts
        who = data.draw(st.sampled_from(owed), label="withdrawer")
        due = self.token.withdrawableDividendOf(who)
        with boa.env.prank(who):
            if due == 0:
                expect_revert("token: nothing to withdraw", self.token.withdrawDividend)
                return
            self.token.withdrawDividend()
        event("dividend withdrawn")
        self.withdrawn[who] += due
        self.ether[who] += due
        assert boa.env.get_balance(who) == self.ether[who]
        assert self.token.withdrawableDividendOf(who) == 0
        assert self.token.withdrawnDividendOf(who) == self.withdrawn[who]

    @rule(blocks=BLOCKS)
    def advance(self, blocks):
        start = block_number()
        boa.env.time_travel(blocks=blocks)
        # blocks start .. start+blocks-1 are over: their end-of-block values are final
        for b in range(start, start + blocks):
            self.history[None, b] = self.supply
            for a in self.accounts:
                self.history[a, b] = self.votes(a)
        self._check_block(start + blocks - 1)

    @rule(data=st.data())
    def check_history(self, data):
        """Some recorded past values are still what they were (teardown re-reads them all)."""
        if self.history:
            keys = data.draw(st.lists(st.sampled_from(sorted(self.history, key=str)), max_size=6), label="recorded")
            self._check_history(keys)
        now = block_number()
        expect_revert("token: future lookup", self.token.getPastTotalSupply, now)
        expect_revert("token: future lookup", self.token.getPastVotes, self.accounts[0], now)

    # ------------------------------------------------------------ checks

    def _check_block(self, b):
        assert self.token.getPastTotalSupply(b) == self.history[None, b]
        for a in self.accounts:
            assert self.token.getPastVotes(a, b) == self.history[a, b]

    def _check_history(self, keys=None):
        for a, b in self.history if keys is None else keys:
            value = self.history[a, b]
            if a is None:
                assert self.token.getPastTotalSupply(b) == value, b
            else:
                assert self.token.getPastVotes(a, b) == value, (a, b)

    @invariant()
    def balances_sum_to_supply(self):
        balances = [self.token.balanceOf(a) for a in self.accounts]
        assert balances == [self.balance[a] for a in self.accounts]
        assert sum(balances) == self.token.totalSupply() == self.supply

    @invariant()
    def votes_match_delegations(self):
        total_votes = 0
        for a in self.accounts:
            v = self.token.getVotes(a)
            assert v == self.votes(a)
            total_votes += v
        delegated = sum(b for a, b in self.balance.items() if self.delegate_of[a] != ZERO)
        assert total_votes == delegated

    @invariant()
    def dividends_are_accounted(self):
        assert self.token.totalDistributed() == self.distributed
        total = 0
        withdrawable_sum = 0
        for a in self.accounts:
            acc = self.token.accumulativeDividendOf(a)
            # withdrawnDividendOf and withdrawableDividendOf change only in withdraw(), which
            # checks them; teardown checks them all again
            withdrawn = self.withdrawn[a]
            withdrawable = acc - withdrawn
            floor = math.floor(self.ideal[a])
            assert floor - 1 <= acc <= floor, (a, acc, self.ideal[a])
            total += withdrawn + withdrawable
            withdrawable_sum += withdrawable
        held = len(self.ever_held)
        assert self.distributed - held <= total <= self.distributed
        contract_ether = boa.env.get_balance(self.token.address)
        assert contract_ether == self.distributed - sum(self.withdrawn.values())
        assert contract_ether >= withdrawable_sum


def test_token_state_machine(token_deployer, make_account):
    TokenMachine.minter = make_account()
    TokenMachine.token = token_deployer.deploy("Shares", "SHR", TokenMachine.minter)
    TokenMachine.accounts = [make_account() for _ in range(N_ACCOUNTS)]
    TokenMachine.payer = make_account()
    run_state_machine_as_test(TokenMachine, settings=TOKEN_SETTINGS)


# ================================================================ association

# a small pool of cids, so that registered and duplicate cids come up
CID_BODIES = [(i + 0x2000).to_bytes(32, "big") for i in range(6)]
CIDS = st.integers(0, len(CID_BODIES) - 1)
NEW_RULES = st.sampled_from(
    [(2000, 5001, 3, 20 * E, 5000), (0, 1, 1, 5 * E, 0), (5000, 10_000, 2, 50 * E, 10_000), (10_000, 5000, 4, E, 1)]
)
BOOT = (100 * E, 50 * E, 20 * E, 0)  # the fourth account starts with nothing
INITIAL_RULES = (2000, 5001, 4, 20 * E, 5000)
MAX_PROPOSALS = 8
SUPPORT = st.sampled_from([1, 1, 1, 1, 0, 2])  # 2 is invalid


class Proposal:
    def __init__(self, pid, kind, proposer, body, shares, snapshot, deadline, quorum, approval):
        self.pid, self.kind, self.proposer, self.body, self.shares = pid, kind, proposer, body, shares
        self.snapshot, self.deadline, self.quorum, self.approval = snapshot, deadline, quorum, approval
        self.votes_for = 0
        self.votes_against = 0
        self.voters: dict = {}  # account -> weight
        self.executed = False


class AssociationMachine(RuleBasedStateMachine):
    # set by the test function: the association and a request it has just created (in block
    # `created`, by `outsider`, with the BOOT shares and INITIAL_RULES); every example starts
    # from that state inside an anchor
    assoc = db = token = None
    created = 0
    accounts: ClassVar[list] = []
    outsider = None

    def __init__(self):
        super().__init__()
        open_anchor(self, self._initial_state)

    def _initial_state(self):
        assert block_number() == self.created
        self.rules = INITIAL_RULES
        self.balance = dict(zip(self.accounts, BOOT, strict=True))
        self.balance[self.outsider] = 0  # proposes data, never delegates
        self.bootstrap = sum(BOOT)
        self.supply = self.bootstrap
        self.delegate_of = dict.fromkeys(self.balance, ZERO)
        self.history: dict[int, tuple[dict, int]] = {}  # ended block -> (votes, supply)
        self.proposals: list[Proposal] = []
        self.registered: list[bytes] = []
        self.executed_data: list[Proposal] = []
        # start with two self-delegated curators one block in, so that most proposals have
        # voters; the delegate rule reshuffles from there
        self.delegate(0, 0)
        self.delegate(1, 1)
        self.advance(1)
        # and with one data proposal the first curator already backs, so that every example
        # can pass and execute something
        with boa.env.prank(self.outsider):
            pid = self.assoc.propose(self.db.address, CID_BODIES[0], 1, 5 * E)
        self._open(pid, 1, self.outsider, CID_BODIES[0], 5 * E)
        self._ballot(self.proposals[0], self.accounts[0], 1, False)

    def teardown(self):
        try:
            for p in self.proposals:
                self._check_proposal(p)
            for i in range(len(self.executed_data)):
                self._check_entry(i)
            for a in self.balance:
                assert self.token.balanceOf(a) == self.balance[a]
        finally:
            self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------ model helpers

    def votes(self, who):
        return sum(b for a, b in self.balance.items() if self.delegate_of[a] == who)

    def past(self, who, b):
        """Model votes of `who` (None: the supply) at the end of block b."""
        if b < self.created:
            return 0
        votes, supply = self.history[b]
        return supply if who is None else votes.get(who, 0)

    def expected_state(self, p):
        if p.executed:
            return 4
        if block_number() <= p.deadline:
            return 1
        cast = p.votes_for + p.votes_against
        quorum_ok = cast * 10_000 >= p.quorum * self.past(None, p.snapshot)
        approved = p.votes_for > 0 and p.votes_for * 10_000 >= p.approval * cast
        return 3 if quorum_ok and approved else 2

    def _open(self, pid, kind, proposer, body, shares):
        b = block_number()
        assert pid == len(self.proposals) + 1
        assert self.assoc.proposalSnapshot(pid) == b - 1
        assert self.assoc.proposalDeadline(pid) == b + self.rules[2]
        self.proposals.append(
            Proposal(pid, kind, proposer, body, shares, b - 1, b + self.rules[2], self.rules[0], self.rules[1])
        )

    def _pick(self, data, interesting):
        """A proposal, three times in four among the `interesting` ones when there are any."""
        pool = [p for p in self.proposals if interesting(p)]
        if not pool or data.draw(st.integers(0, 3), label="any proposal") == 0:
            pool = self.proposals
        return data.draw(st.sampled_from(pool), label="proposal")

    def _check_proposal(self, p):
        assert self.assoc.proposalVotes(p.pid) == (p.votes_against, p.votes_for)
        # tallies are the sum of the voters' past votes at the snapshot
        assert p.votes_for + p.votes_against == sum(self.token.getPastVotes(v, p.snapshot) for v in p.voters)
        for a in self.accounts:  # one vote per account per proposal, and hasVoted knows it
            assert self.assoc.hasVoted(p.pid, a) == (a in p.voters)

    def _check_entry(self, i):
        p = self.executed_data[i]
        assert self.db.entry(i)[:5] == (p.body, p.proposer, 1 + CID_BODIES.index(p.body), p.shares, p.pid)

    # ------------------------------------------------------------ rules

    @rule(holder=ACCOUNT, delegatee=DELEGATEE)
    def delegate(self, holder, delegatee):
        holder = self.accounts[holder]
        target = ZERO if delegatee < 0 else self.accounts[delegatee]
        with boa.env.prank(holder):
            self.token.delegate(target)
        self.delegate_of[holder] = target

    @rule(src=ACCOUNT, dst=ACCOUNT, permille=st.integers(0, 1000))
    def transfer(self, src, dst, permille):
        src, dst = self.accounts[src], self.accounts[dst]
        amount = self.balance[src] * permille // 1000
        with boa.env.prank(src):
            self.token.transfer(dst, amount)
        self.balance[src] -= amount
        self.balance[dst] += amount
        assert self.token.balanceOf(src) == self.balance[src]
        assert self.token.balanceOf(dst) == self.balance[dst]

    @rule(blocks=BLOCKS)
    def advance(self, blocks):
        start = block_number()
        boa.env.time_travel(blocks=blocks)
        snapshot = ({a: self.votes(a) for a in self.accounts}, self.supply)
        for b in range(start, start + blocks):
            self.history[b] = snapshot

    @precondition(lambda self: any(block_number() <= p.deadline for p in self.proposals))
    @rule()
    def close_voting(self):
        """Mine to the block after the last open proposal's deadline."""
        self.advance(max(p.deadline for p in self.proposals) - block_number() + 1)

    @precondition(lambda self: len(self.proposals) < MAX_PROPOSALS)
    @rule(
        data=st.data(),
        proposer=st.integers(0, N_ACCOUNTS),
        c=CIDS,
        shares=st.one_of(st.integers(1, 10 * E), st.integers(0, 60 * E)),
    )
    def propose(self, data, proposer, c, shares):
        """A data proposal, and at once up to three ballots on it (voting opens at once)."""
        who = self.outsider if proposer == N_ACCOUNTS else self.accounts[proposer]
        body = CID_BODIES[c]
        with boa.env.prank(who):
            if shares == 0:
                expect_revert("association: no shares requested", self.assoc.propose, self.db.address, body, 1, shares)
                return
            if shares > self.rules[3]:
                expect_revert(
                    "association: shares above the request's maximum",
                    self.assoc.propose,
                    self.db.address,
                    body,
                    1,
                    shares,
                )
                return
            if body in self.registered:
                expect_revert(
                    "association: cid already registered", self.assoc.propose, self.db.address, body, 1, shares
                )
                return
            earlier = [self.expected_state(q) for q in self.proposals if q.kind == 1 and q.body == body]
            if earlier and earlier[-1] in (1, 3):
                reason = (
                    "association: cid has an active proposal"
                    if earlier[-1] == 1
                    else "association: cid has a passed proposal awaiting execution"
                )
                expect_revert(reason, self.assoc.propose, self.db.address, body, 1, shares)
                event(f"propose: cid has an open proposal (state {earlier[-1]})")
                return
            pid = self.assoc.propose(self.db.address, body, 1 + c, shares)
        self._open(pid, 1, who, body, shares)
        self._ballots(data, self.proposals[-1])

    @precondition(lambda self: len(self.proposals) < MAX_PROPOSALS)
    @rule(data=st.data(), proposer=ACCOUNT, new_rules=NEW_RULES)
    def propose_rules(self, data, proposer, new_rules):
        """A rules proposal, and at once up to three ballots on it."""
        who = self.accounts[proposer]
        with boa.env.prank(who):
            if self.votes(who) == 0:
                expect_revert(
                    "association: proposer has no voting power", self.assoc.proposeRules, self.db.address, *new_rules
                )
                return
            pid = self.assoc.proposeRules(self.db.address, *new_rules)
        self._open(pid, 2, who, new_rules, 0)
        self._ballots(data, self.proposals[-1])

    @precondition(lambda self: self.proposals)
    @rule(data=st.data())
    def vote(self, data):
        """One to three ballots on one proposal."""
        self._ballots(data, self._pick(data, lambda q: block_number() <= q.deadline), min_size=1)

    def _ballots(self, data, p, min_size=0):
        """Up to three ballots on `p`, usually by accounts that can still vote on it."""
        able = [a for a in self.accounts if self.past(a, p.snapshot) and a not in p.voters]
        if not able or data.draw(st.integers(0, 3), label="anyone") == 0:
            able = self.accounts
        voters = data.draw(st.lists(st.sampled_from(able), min_size=min_size, max_size=3), label="voters")
        for who in voters:
            support = data.draw(SUPPORT, label="support")
            with_reason = data.draw(st.booleans(), label="with reason")
            self._ballot(p, who, support, with_reason)
        self._check_proposal(p)

    def _ballot(self, p, who, support, with_reason):
        cast = self.assoc.castVoteWithReason if with_reason else self.assoc.castVote
        args = (p.pid, support, "because") if with_reason else (p.pid, support)
        weight = self.past(who, p.snapshot)
        with boa.env.prank(who):
            if block_number() > p.deadline:
                expect_revert("association: voting closed", cast, *args)
            elif support > 1:
                expect_revert("association: support must be 0 (against) or 1 (for)", cast, *args)
            elif who in p.voters:
                expect_revert("association: already voted", cast, *args)
            elif weight == 0:
                expect_revert("association: no voting power at the snapshot", cast, *args)
            else:
                assert cast(*args) == weight
                event("vote counted")
                p.voters[who] = weight
                if support == 1:
                    p.votes_for += weight
                else:
                    p.votes_against += weight

    @precondition(lambda self: self.proposals)
    @rule(data=st.data())
    def execute(self, data):
        p = self._pick(data, lambda q: block_number() > q.deadline and not q.executed)
        s = self.expected_state(p)
        event(f"execute: state {s}")
        if s == 1:
            expect_revert("association: voting not over", self.assoc.execute, p.pid)
        elif s == 2:
            expect_revert("association: proposal defeated", self.assoc.execute, p.pid)
        elif s == 4:
            expect_revert("association: already executed", self.assoc.execute, p.pid)
        else:
            # at most one proposal per cid is ever open, so a passed one is never a duplicate
            assert not (p.kind == 1 and p.body in self.registered), "two proposals of one cid passed"
            self.assoc.execute(p.pid)
            event(f"execute: kind {p.kind} executed")
            p.executed = True
            if p.kind == 1:
                self.registered.append(p.body)
                self.executed_data.append(p)
                self.balance[p.proposer] += p.shares
                self.supply += p.shares
                self._check_entry(len(self.executed_data) - 1)
            else:
                self.rules = p.body
        assert self.assoc.state(p.pid) == self.expected_state(p)

    # ------------------------------------------------------------ invariants

    @invariant()
    def states_match_model(self):
        for p in self.proposals:
            assert self.assoc.state(p.pid) == self.expected_state(p)

    @invariant()
    def registry_and_supply_follow_executions(self):
        shares = sum(p.shares for p in self.executed_data)
        assert self.db.entryCount() == len(self.executed_data) == len(self.registered)
        assert self.token.totalSupply() == self.bootstrap + shares == self.supply
        assert self.assoc.rules(self.db.address) == self.rules
        assert self.assoc.proposalCount() == len(self.proposals)

    @invariant()
    def votes_match_model(self):
        for a in self.accounts:
            assert self.token.getVotes(a) == self.votes(a)


def test_association_state_machine(association, token_deployer, database_deployer, make_account):
    m = AssociationMachine
    m.accounts = [make_account() for _ in range(N_ACCOUNTS)]
    m.outsider = make_account()
    holders = [a for a, s in zip(m.accounts, BOOT, strict=True) if s]
    with boa.env.prank(m.outsider):
        db_addr = association.createRequest("r", "R", b"\x07" * 32, holders, [s for s in BOOT if s], *INITIAL_RULES)
    m.assoc = association
    m.db = database_deployer.at(db_addr)
    m.token = token_deployer.at(association.tokenOf(db_addr))
    m.created = block_number()
    run_state_machine_as_test(m, settings=ASSOCIATION_SETTINGS)
