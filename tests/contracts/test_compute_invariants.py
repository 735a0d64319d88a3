"""Stateful property test (hypothesis RuleBasedStateMachine) of the ComputeMarket.

A plain-Python model runs next to the contract. Every rule first predicts, from the model,
whether the call must revert and with which reason (the contract's checks in their order); it
then makes the call, expects exactly that, and updates the model only on success. So every
path (each revert and each success) is checked against the model, and after every step:

* solvency: the contract's ether == totalEscrow + totalStake + totalOwed, and each total is
  the sum of its parts in the model (open jobs' fees, worker stakes, pull balances);
* a job settles exactly once: each job has at most one JobCompleted or JobRefunded event
  (never both, never two) and its on-chain state is the model's;
* nothing is paid for work that was not assigned or was slashed: every WorkerPaid is for an
  assigned, unslashed worker, and every pull balance equals what the model credited (so no
  other account was paid); a worker's openJobs equals the number of unsettled jobs it is
  assigned to;
* value payouts: completion sometimes records a value root (a StandardMerkleTree of
  (contributor, amount) leaves) and keeps its pool, the rest of the data fee is dividends; the
  balance identity counts every job's unclaimed pool; only the job's coordinator sets a root,
  once, at completion, and a refunded job has none; claims (`claim`) are honest or misuse
  (wrong amount, wrong proof, another account's leaf, a second claim, a job without a root)
  and the model predicts each revert; Σ claimed never exceeds a job's pool.

Steering: random calls on a market seldom get a job through its whole life, so `drive` takes
an open job one to three steps along it as an honest coordinator would (accept, assign, slash,
complete, or refund after the deadline), while `misuse` makes any job call with arguments that
are usually valid and sometimes not. Each example starts with a job already accepted and
assigned, and the common branch of every draw is its 0 side (hypothesis favours it). Each
call reports a hypothesis ``event`` (which function succeeded, which revert reason), for
tallying how often each path runs.

Each example runs inside its own ``boa.env.anchor()`` (opened in ``__init__``, closed in
``teardown``), as in test_invariants.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import boa
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from databright.chain.merkle import ValueTree

from .conftest import (
    JOB_ACCEPTED,
    JOB_COMPLETED,
    JOB_POSTED,
    JOB_REFUNDED,
    MIN_STAKE,
    ZERO,
    E,
    cid,
    events,
    open_anchor,
)

N_WORKERS = 4
N_COORDS = 2
N_BUYERS = 2
MAX_JOBS = 6
N_CONTRIBUTORS = 3
VALUE_BPS = 5000  # the dataset fixture's default value share
SPEC, RESULT, MODEL, REPORT, EVIDENCE, VALUE_CID = (cid(200 + i) for i in range(6))
ZERO32 = b"\x00" * 32

# sized so that the whole contracts suite stays well under a minute on two cores; database=None
# keeps hypothesis from writing an example database into the working tree
COMPUTE_SETTINGS = settings(max_examples=50, stateful_step_count=30, deadline=None, database=None)

WORKER = st.integers(0, N_WORKERS - 1)
COORD = st.integers(0, N_COORDS - 1)
BUYER = st.integers(0, N_BUYERS - 1)
STAKE = st.one_of(st.just(MIN_STAKE), st.integers(0, 2 * MIN_STAKE), st.integers(0, 1000))
FEE = st.one_of(st.integers(0, 1000), st.integers(0, 5 * E))
SECONDS = st.integers(1, 300)
TTL = st.integers(300, 3000)  # seconds from posting to the deadline
UNITS = st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1), st.integers(2**64 - 4, 2**64))
HONEST_UNITS = st.one_of(st.integers(1, 100), st.just(0))

NOT_JOB_COORDINATOR = "compute: caller is not the job's coordinator"


@dataclass
class Job:
    id: int
    buyer: str
    data_fee: int
    compute_fee: int
    deadline: int
    state: int = JOB_POSTED
    coord: str = ZERO
    assigned: list = field(default_factory=list)
    slashed: set = field(default_factory=set)
    units: dict = field(default_factory=dict)
    tree: ValueTree | None = None  # the value tree recorded at completion
    pool: int = 0  # value payouts recorded at completion
    claimed: dict = field(default_factory=dict)  # account -> amount claimed

    @property
    def value_share(self) -> int:
        return self.data_fee * VALUE_BPS // 10_000

    @property
    def unclaimed(self) -> int:
        return self.pool - sum(self.claimed.values())

    @property
    def open(self) -> bool:
        return self.state in (JOB_POSTED, JOB_ACCEPTED)


def rarely(data, label) -> bool:
    """True one time in five. Hypothesis favours the simplest value (0) of a draw, so the
    common branch must be the 0 side."""
    return data.draw(st.integers(0, 4), label=label) == 4


def _now() -> int:
    return boa.env.evm.patch.timestamp


class ComputeMachine(RuleBasedStateMachine):
    # set by the test function: a fresh market, its governance, the dataset's database and
    # token, and accounts; every example starts from that state inside an anchor
    cm = token = None
    db = governance = stranger = None
    workers: ClassVar[list] = []
    coords: ClassVar[list] = []
    buyers: ClassVar[list] = []
    contributors: ClassVar[list] = []

    def __init__(self):
        super().__init__()
        open_anchor(self, self._initial_state)

    def _initial_state(self):
        for b in self.buyers:
            boa.env.set_balance(b, 10**6 * E)
        self.everyone = [*self.workers, *self.coords, *self.buyers, self.stranger]
        self.claimants = [*self.contributors, self.stranger]
        self.stake = dict.fromkeys(self.workers, 0)
        self.owed = dict.fromkeys(self.everyone, 0)
        self.approved = dict.fromkeys(self.coords, False)
        self.jobs: list[Job] = []
        self.settlements: dict[int, list[str]] = {}  # job id -> settlement events seen
        self.distributed0 = self.distributed = self.token.totalDistributed()
        self.ether_in = 0  # paid into the market (stakes, job payments)
        self.ether_out = 0  # withdrawn from the market
        # start with both coordinators approved, two workers registered, one job accepted by
        # the first coordinator with both workers on it and a second job posted, so that every
        # example has something to complete, slash, accept or refund
        for i in range(N_COORDS):
            self.approve(i)
        self.register(0, MIN_STAKE)
        self.register(1, 2 * MIN_STAKE)
        self.post(0, E, 10 * E + 1, 600, 0)
        self.do_accept(self.jobs[0], 1, self.coords[0])
        self.do_assign(self.jobs[0], 1, self.coords[0], self.workers[:2])
        self.post(1, 0, 1000, 1200, 0)

    def teardown(self):
        try:
            self.check_everything()
        finally:
            self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------ model helpers

    def call(self, who, message, fn, *args, **kwargs):
        """Calls fn as `who`; expects the revert `message`, or success when it is None."""
        with boa.env.prank(who):
            if message is None:
                event(f"ok: {getattr(getattr(fn, 'func_t', None), 'name', fn)}")
                return fn(*args, **kwargs)
            with boa.reverts(message):
                fn(*args, **kwargs)
            event(f"revert: {message}")
            return None

    def worker_balance_low(self):
        """Workers that could not pay another stake (keeps the example from running dry)."""
        return [w for w in self.workers if boa.env.get_balance(w) < 3 * MIN_STAKE]

    def credit(self, who, amount):
        self.owed[who] = self.owed.get(who, 0) + amount

    def open_jobs(self, w):
        return sum(1 for j in self.jobs if j.open and w in j.assigned)

    def pick_job(self, data, interesting):
        """A job id: usually one where the rule can succeed, sometimes any, rarely unknown."""
        pool = [j for j in self.jobs if interesting(j)]
        roll = data.draw(st.integers(0, 9), label="job kind")
        if roll == 9:
            return None, len(self.jobs) + 1  # unknown id
        if not pool or roll >= 7:
            pool = self.jobs
        if not pool:
            return None, len(self.jobs) + 1
        j = data.draw(st.sampled_from(pool), label="job")
        return j, j.id

    def workable(self, j, deadline=True):
        """A job its coordinator can still act on (and, with `deadline`, complete)."""
        on_time = _now() <= j.deadline or not deadline
        return j.state == JOB_ACCEPTED and on_time and self.approved.get(j.coord, False)

    def coordinator_check(self, j, caller):
        """The revert of ComputeMarket._coordinatorCore, or None."""
        if j is None:
            return "compute: unknown job"
        if j.coord != caller:
            return NOT_JOB_COORDINATOR
        if not self.approved.get(caller, False):
            return "compute: not an approved coordinator"
        if j.state != JOB_ACCEPTED:
            return "compute: job not accepted"
        return None

    def pick_coordinator(self, data):
        """Usually an approved coordinator, sometimes any or a stranger."""
        pool = [c for c in self.coords if self.approved[c]]
        roll = data.draw(st.integers(0, 7), label="coordinator kind")
        if roll == 7:
            return self.stranger
        if not pool or roll == 6:
            pool = self.coords
        return data.draw(st.sampled_from(pool), label="coordinator")

    def pick_caller(self, data, j):
        """Usually the job's coordinator, sometimes another one or a stranger."""
        if j is not None and j.coord != ZERO and not rarely(data, "another coordinator"):
            return j.coord
        return self.pick_coordinator(data)

    def settled(self, logs):
        """Records the settlement events among `logs`; a job must never get a second one."""
        for name, kind in (("JobCompleted", "completed"), ("JobRefunded", "refunded")):
            for e in events(logs, name):
                self.settlements.setdefault(e.jobId, []).append(kind)
                assert len(self.settlements[e.jobId]) == 1, f"job {e.jobId} settled twice"

    # ------------------------------------------------------------ rules: governance

    def approve(self, i):
        c = self.coords[i]
        self.call(self.governance, None, self.cm.approveCoordinator, c, c, cid(300 + i))
        self.approved[c] = True
        assert self.cm.isCoordinator(c)

    @rule(i=COORD, action=st.integers(0, 9))
    def govern(self, i, action):
        """Mostly (re-)approvals, so that coordinators are usually approved; some revocations,
        and now and then a stranger trying either."""
        c = self.coords[i]
        if action == 9:
            self.call(self.stranger, "compute: caller is not governance", self.cm.revokeCoordinator, c)
            self.call(self.stranger, "compute: caller is not governance", self.cm.approveCoordinator, c, c, SPEC)
        elif action == 8:
            message = None if self.approved[c] else "compute: not an approved coordinator"
            self.call(self.governance, message, self.cm.revokeCoordinator, c)
            self.approved[c] = False
            assert not self.cm.isCoordinator(c)
        else:
            self.approve(i)

    # ------------------------------------------------------------ rules: workers

    @rule(i=WORKER, amount=STAKE, leave=st.integers(0, 2))
    def staking(self, i, amount, leave):
        """Registers (or tops up) a worker; one time in three has one leave instead."""
        if leave == 2:
            self.leave(i)
        else:
            self.register(i, amount)

    def register(self, i, amount):
        w = self.workers[i]
        if w in self.worker_balance_low():
            return
        if self.stake[w] == 0:
            message = None if amount >= MIN_STAKE else "compute: stake below minimum"
        else:
            message = None if amount > 0 else "compute: no stake sent"
        self.call(w, message, self.cm.registerWorker, value=amount)
        if message is None:
            self.stake[w] += amount
            self.ether_in += amount
            assert self.cm.worker(w) == (self.stake[w], self.open_jobs(w), True)

    def leave(self, i):
        w = self.workers[i]
        if self.stake[w] == 0:
            message = "compute: not a registered worker"
        elif self.open_jobs(w):
            message = "compute: worker is assigned to an open job"
        else:
            message = None
        self.call(w, message, self.cm.leave)
        if message is None:
            self.credit(w, self.stake[w])
            self.stake[w] = 0
            assert self.cm.worker(w) == (0, 0, False)

    # ------------------------------------------------------------ job actions
    # Each predicts the contract's revert (its checks in their order), makes the call as
    # `caller`, and updates the model on success. `j` is None for an unknown job id.

    def do_accept(self, j, job_id, c):
        if j is None:
            message = "compute: unknown job"
        elif not self.approved.get(c, False):
            message = "compute: not an approved coordinator"
        elif j.state != JOB_POSTED:
            message = "compute: job not posted"
        elif _now() > j.deadline:
            message = "compute: deadline passed"
        else:
            message = None
        self.call(c, message, self.cm.acceptJob, job_id)
        if message is None:
            j.state, j.coord = JOB_ACCEPTED, c
            assert self.cm.job(job_id)[6:] == (c, JOB_ACCEPTED)

    def do_assign(self, j, job_id, caller, ws):
        message = self.coordinator_check(j, caller)
        if message is None and _now() > j.deadline:
            message = "compute: deadline passed"
        if message is None:
            seen = list(j.assigned)
            for w in ws:
                if self.stake[w] < MIN_STAKE:
                    message = "compute: worker not registered"
                    break
                if w in seen:
                    message = "compute: worker already assigned"
                    break
                seen.append(w)
        self.call(caller, message, self.cm.assignWorkers, job_id, ws)
        if message is None:
            j.assigned.extend(ws)
            assert self.cm.jobWorkers(job_id) == j.assigned
            for w in ws:
                assert self.cm.worker(w)[1] == self.open_jobs(w)

    def do_slash(self, j, job_id, caller, w):
        message = self.coordinator_check(j, caller)
        if message is None and w not in j.assigned:
            message = "compute: worker not assigned"
        if message is None and w in j.slashed:
            message = "compute: worker already slashed"
        self.call(caller, message, self.cm.slash, job_id, w, EVIDENCE)
        if message is None:
            amount = self.stake[w]
            ev = events(self.cm.get_logs(), "WorkerSlashed")
            assert [(e.jobId, e.worker, e.amount) for e in ev] == [(job_id, w, amount)]
            j.slashed.add(w)
            self.credit(j.buyer, amount)
            self.stake[w] = 0
            assert self.cm.worker(w) == (0, self.open_jobs(w), False)

    def draw_value(self, data, j, honest):
        """(tree, root, value cid, total) for completing `j`: usually payouts to some of the
        contributors within the job's value share (sometimes none: no root); unless `honest`,
        sometimes a malformed combination the contract must refuse."""
        share = j.value_share if j is not None else 0
        kind = data.draw(st.integers(0, 9), label="value kind")
        if honest or kind < 7:
            if share == 0 or kind == 6:
                return None, ZERO32, (VALUE_CID if kind == 6 else ZERO32), 0
            who = data.draw(st.lists(st.sampled_from(self.contributors), min_size=1, unique=True), label="payees")
            amounts = [data.draw(st.integers(1, max(1, share // len(who))), label="payout") for _ in who]
            if sum(amounts) > share:
                return None, ZERO32, ZERO32, 0
            tree = ValueTree.of(list(zip(who, amounts, strict=True)))
            return tree, tree.root, VALUE_CID, sum(amounts)
        tree = ValueTree.of([(self.contributors[0], share + 1)])
        return None, *[(ZERO32, VALUE_CID, 1), (tree.root, ZERO32, 1), (tree.root, VALUE_CID, share + 1)][kind - 7]

    def value_check(self, j, root, value_cid, total):
        """The revert of ComputeMarket._settleValue, or None."""
        if root == ZERO32:
            return "compute: value payouts without a root" if total else None
        if value_cid == ZERO32:
            return "compute: empty value report cid"
        if total == 0:
            return "compute: empty value pool"
        if total > j.value_share:
            return "compute: value payouts above the job's value share"
        return None

    def do_complete(self, j, job_id, caller, ws, units, value=(None, ZERO32, ZERO32, 0)):
        message = self.coordinator_check(j, caller)
        if message is None and _now() > j.deadline:
            message = "compute: deadline passed"
        if message is None:
            seen = set()
            for w, u in zip(ws, units, strict=True):
                if w not in j.assigned:
                    message = "compute: worker not assigned"
                elif w in j.slashed:
                    message = "compute: worker was slashed"
                elif w in seen:
                    message = "compute: duplicate worker"
                elif u > 2**64 - 1:
                    message = "compute: units out of range"
                if message:
                    break
                seen.add(w)
        if message is None and sum(units) == 0:
            message = "compute: no verified units"
        tree, root, value_cid, value_total = value
        if message is None:
            message = self.value_check(j, root, value_cid, value_total)
        self.call(caller, message, self.cm.completeJob, job_id, RESULT, MODEL, REPORT, ws, units,
                  root, value_cid, value_total)
        if message is not None:
            return
        logs = self.cm.get_logs()
        total = sum(units)
        paid = 0
        payments = events(logs, "WorkerPaid")
        assert len(payments) == len(ws)
        for e, w, u in zip(payments, ws, units, strict=True):
            # nothing for work that was not assigned or was slashed
            assert e.worker in j.assigned and e.worker not in j.slashed
            amount = j.compute_fee * u // total
            assert (e.jobId, e.worker, e.units, e.amount) == (job_id, w, u, amount)
            self.credit(w, amount)
            j.units[w] = u
            paid += amount
        self.credit(j.buyer, j.compute_fee - paid)
        j.tree, j.pool = tree, value_total
        dividends = j.data_fee - value_total
        self.distributed += dividends
        assert self.token.totalDistributed() == self.distributed
        assert len(events(logs, "DividendsDistributed")) == (1 if dividends else 0)
        valued = [(e.jobId, e.valueRoot, e.valueCid, e.valuePool, e.dividends) for e in events(logs, "JobValued")]
        assert valued == ([(job_id, root, value_cid, value_total, dividends)] if value_cid != ZERO32 else [])
        assert self.cm.jobValue(job_id) == (VALUE_BPS, root[:20], value_total)
        assert [e.jobId for e in events(logs, "JobCompleted")] == [job_id]
        j.state = JOB_COMPLETED
        self.settled(logs)
        for w in j.assigned:
            assert self.cm.worker(w)[1] == self.open_jobs(w)

    def do_refund(self, j, job_id, caller):
        if j is None:
            message = "compute: unknown job"
        elif not j.open:
            message = "compute: job already settled"
        elif _now() <= j.deadline:
            message = "compute: deadline not reached"
        else:
            message = None
        self.call(caller, message, self.cm.refund, job_id)
        if message is None:
            logs = self.cm.get_logs()
            amount = j.data_fee + j.compute_fee
            assert [(e.jobId, e.buyer, e.amount) for e in events(logs, "JobRefunded")] == [(job_id, j.buyer, amount)]
            self.credit(j.buyer, amount)
            j.state = JOB_REFUNDED
            self.settled(logs)

    def draw_units(self, data, ws):
        return [data.draw(UNITS, label="units") for _ in ws]

    # ------------------------------------------------------------ rules: jobs

    @precondition(lambda self: len(self.jobs) < MAX_JOBS)
    @rule(b=BUYER, data_fee=FEE, compute_fee=FEE, ttl=TTL, variant=st.integers(0, 9))
    def post(self, b, data_fee, compute_fee, ttl, variant):
        """A job; one time in ten the payment is below the data fee, one in ten the deadline
        is now (both refused)."""
        buyer = self.buyers[b]
        value = data_fee + compute_fee
        if variant == 8 and data_fee > 0:
            value = data_fee - 1
        if variant == 9:
            ttl = 0
        deadline = _now() + ttl
        if ttl == 0:
            message = "compute: deadline passed"
        elif value == 0:
            message = "compute: no payment"
        elif value < data_fee:
            message = "compute: data fee above payment"
        else:
            message = None
        job_id = self.call(buyer, message, self.cm.postJob, self.db, SPEC, data_fee, deadline, value=value)
        if message is None:
            assert job_id == len(self.jobs) + 1
            self.jobs.append(Job(job_id, buyer, data_fee, value - data_fee, deadline))
            self.ether_in += value
        assert self.cm.jobCount() == len(self.jobs)

    @precondition(lambda self: any(j.open for j in self.jobs))
    @rule(data=st.data())
    def drive(self, data):
        """Takes an open job one to three steps further along its normal life, as an honest
        coordinator would: accept, assign free workers, now and then slash one, complete with
        units for its unslashed workers; or refunds it once the deadline has passed."""
        j = data.draw(st.sampled_from([j for j in self.jobs if j.open]), label="open job")
        for _ in range(data.draw(st.integers(1, 3), label="steps")):
            if not j.open:
                break
            self.step(data, j)

    def step(self, data, j):
        if _now() > j.deadline:
            self.do_refund(j, j.id, j.buyer)
        elif j.state == JOB_POSTED:
            self.do_accept(j, j.id, self.pick_coordinator(data))
        elif not self.approved[j.coord]:
            # a revoked coordinator's job can only wait for its deadline
            self.do_assign(j, j.id, j.coord, [])
        else:
            good = [w for w in j.assigned if w not in j.slashed]
            free = [w for w in self.workers if self.stake[w] >= MIN_STAKE and w not in j.assigned]
            if free and (not good or data.draw(st.booleans(), label="assign more?")):
                ws = data.draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True), label="workers")
                self.do_assign(j, j.id, j.coord, ws)
            elif good and data.draw(st.booleans(), label="slash one?"):
                self.do_slash(j, j.id, j.coord, data.draw(st.sampled_from(good), label="worker"))
            elif good:
                ws = data.draw(st.permutations(good), label="order")
                ws = ws[: data.draw(st.integers(1, len(ws)), label="how many")]
                units = [data.draw(HONEST_UNITS, label="units") for _ in ws]
                self.do_complete(j, j.id, j.coord, ws, units, self.draw_value(data, j, honest=True))

    @rule(data=st.data())
    def misuse(self, data):
        """Any job action with arbitrary arguments: a job, caller and workers usually chosen
        so that it can succeed, sometimes any (then the model predicts the revert)."""
        action = data.draw(st.integers(0, 4), label="action")
        if action == 0:
            j, job_id = self.pick_job(data, self.workable)
            caller = self.pick_caller(data, j)
            # usually some of the assigned, unslashed workers (in any order), sometimes anyone
            good = [w for w in j.assigned if w not in j.slashed] if j is not None else []
            if good and not rarely(data, "any workers"):
                ws = data.draw(st.permutations(good), label="order")
                ws = ws[: data.draw(st.integers(1, len(ws)), label="how many")]
            else:  # the job's own workers (slashed ones too) are likelier, duplicates happen
                pool = [*self.workers, *j.assigned, *j.assigned] if j is not None else self.workers
                ws = data.draw(st.lists(st.sampled_from(pool), max_size=4), label="workers")
            self.do_complete(j, job_id, caller, ws, self.draw_units(data, ws), self.draw_value(data, j, honest=False))
        elif action == 1:
            j, job_id = self.pick_job(data, lambda j: self.workable(j, deadline=False) and j.slashed != set(j.assigned))
            caller = self.pick_caller(data, j)
            fresh = [w for w in j.assigned if w not in j.slashed] if j is not None else []
            if fresh and not rarely(data, "any worker"):
                w = data.draw(st.sampled_from(fresh), label="worker")
            else:
                w = self.workers[data.draw(WORKER, label="worker")]
            self.do_slash(j, job_id, caller, w)
        elif action == 2:
            j, job_id = self.pick_job(data, self.workable)
            caller = self.pick_caller(data, j)
            free = [w for w in self.workers if self.stake[w] >= MIN_STAKE and (j is None or w not in j.assigned)]
            if free and not rarely(data, "any workers"):
                ws = data.draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True), label="workers")
            else:
                ws = data.draw(st.lists(st.sampled_from(self.workers), max_size=3), label="workers")
            self.do_assign(j, job_id, caller, ws)
        elif action == 3:
            j, job_id = self.pick_job(data, lambda j: j.open and _now() > j.deadline)
            anyone = rarely(data, "refund by a stranger")
            self.do_refund(j, job_id, self.stranger if anyone or j is None else j.buyer)
        else:
            j, job_id = self.pick_job(data, lambda j: j.state == JOB_POSTED and _now() <= j.deadline)
            self.do_accept(j, job_id, self.pick_coordinator(data))

    @precondition(lambda self: any(j.tree is not None for j in self.jobs))
    @rule(data=st.data(), how=st.integers(0, 9))
    def claim(self, data, how):
        """A value claim: usually honest (a payee of a valued job, its own leaf and proof),
        sometimes a wrong amount (7), a wrong proof (8), or another account's leaf or a job
        without a root (9). A second honest claim is drawn as often as the first."""
        j = data.draw(st.sampled_from([j for j in self.jobs if j.tree is not None]), label="valued job")
        if how == 9 and rarely(data, "job without root"):
            j = data.draw(st.sampled_from(self.jobs), label="any job")
        tree = j.tree or ValueTree.of([(self.stranger, 1)])
        i = data.draw(st.integers(0, len(tree.leaves) - 1), label="leaf")
        owner, amount = tree.leaves[i]
        proof = tree.proof(i)
        who = owner
        if how == 7:
            amount += data.draw(st.sampled_from([1, -1, j.data_fee + 1]), label="amount error")
        elif how == 8:
            proof = [*proof, ZERO32] if not proof or rarely(data, "longer") else [proof[0][::-1], *proof[1:]]
        elif how == 9:
            who = data.draw(st.sampled_from([c for c in self.claimants if c != owner]), label="thief")
        if j.tree is None:
            message = "compute: job has no value payouts"
        elif who in j.claimed:
            message = "compute: value already claimed"
        elif how in (7, 8, 9):
            message = "compute: invalid value proof"
        elif amount > j.unclaimed:
            message = "compute: claim above the job's unclaimed value"
        else:
            message = None
        before = boa.env.get_balance(who)
        self.call(who, message, self.cm.claimValue, j.id, max(amount, 0), proof)
        if message is None:
            ev = events(self.cm.get_logs(), "ValueClaimed")
            assert [(e.account, e.jobId, e.amount) for e in ev] == [(who, j.id, amount)]
            assert boa.env.get_balance(who) == before + amount
            j.claimed[who] = amount
            self.ether_out += amount
        else:
            assert boa.env.get_balance(who) == before
        assert self.cm.valueClaimed(j.id, who) == (who in j.claimed)

    @precondition(lambda self: any(self.owed.values()))
    @rule(data=st.data())
    def withdraw(self, data):
        owing = [a for a in self.everyone if self.owed[a]]
        if rarely(data, "anyone"):
            owing = self.everyone
        who = data.draw(st.sampled_from(owing), label="withdrawer")
        due = self.owed[who]
        before = boa.env.get_balance(who)
        self.call(who, None if due else "compute: nothing to withdraw", self.cm.withdraw)
        if due:
            assert boa.env.get_balance(who) == before + due
            self.owed[who] = 0
            self.ether_out += due
            event("withdrawn")

    @rule(seconds=SECONDS, past_deadline=st.booleans())
    def travel(self, seconds, past_deadline):
        """A few minutes, or to just past the earliest deadline of an open job."""
        pending = [j.deadline for j in self.jobs if j.open and j.deadline >= _now()]
        if past_deadline and pending:
            seconds = min(pending) - _now() + 1
        boa.env.time_travel(seconds=seconds)

    # ------------------------------------------------------------ invariants

    @invariant()
    def solvent(self):
        cm = self.cm
        escrow, stake, owed = cm.totalEscrow(), cm.totalStake(), cm.totalOwed()
        balance = boa.env.get_balance(cm.address)
        unclaimed = sum(j.unclaimed for j in self.jobs)
        assert balance == escrow + stake + owed + unclaimed
        assert unclaimed == sum(cm.jobValue(j.id)[2] for j in self.jobs)
        for j in self.jobs:  # Σ claimed <= the job's value pool (and within its value share)
            assert sum(j.claimed.values()) <= j.pool <= j.value_share
        # and, independently, what came in minus what went out (withdrawals, data fees)
        assert balance == self.ether_in - self.ether_out - (self.distributed - self.distributed0)
        assert escrow == sum(j.data_fee + j.compute_fee for j in self.jobs if j.open)
        assert stake == sum(self.stake.values())
        assert owed == sum(self.owed.values())

    @invariant()
    def settles_once(self):
        for j in self.jobs:
            kinds = self.settlements.get(j.id, [])
            assert len(kinds) == (0 if j.open else 1), (j.id, kinds)
            if kinds:  # (teardown compares every job with the contract's job())
                assert j.state == (JOB_COMPLETED if kinds == ["completed"] else JOB_REFUNDED)

    def check_everything(self):
        """Each account and job against the model (once per example, at the end)."""
        cm = self.cm
        for a in self.everyone:
            # equal to the model's credits: nobody was paid what the model did not pay
            assert cm.balanceOf(a) == self.owed[a], a
        for w in self.workers:
            assert cm.worker(w) == (self.stake[w], self.open_jobs(w), self.stake[w] > 0)
        for c in self.coords:
            assert cm.isCoordinator(c) == self.approved[c]
        for j in self.jobs:
            assert cm.job(j.id) == (j.buyer, self.db, SPEC, j.data_fee, j.compute_fee, j.deadline, j.coord, j.state)
            assert cm.jobWorkers(j.id) == j.assigned
            for w in self.workers:
                assert cm.isAssigned(j.id, w) == (w in j.assigned)
                assert cm.isSlashed(j.id, w) == (w in j.slashed)
                assert cm.unitsOf(j.id, w) == j.units.get(w, 0)
                # no payment for slashed or unassigned workers
                if w in j.slashed or w not in j.assigned:
                    assert w not in j.units
            value = cm.jobValue(j.id)
            assert value == (VALUE_BPS, (j.tree.root[:20] if j.tree else ZERO32[:20]), j.unclaimed)
            if j.state != JOB_COMPLETED:  # a refunded or open job has no root
                assert j.tree is None and value[1] == ZERO32[:20]
            for c in self.claimants:
                assert cm.valueClaimed(j.id, c) == (c in j.claimed)
            result = cm.jobResult(j.id)
            if j.state == JOB_COMPLETED:
                assert result == (RESULT, MODEL, REPORT, sum(j.units.values()))
            else:
                assert result[3] == 0
        assert self.token.totalDistributed() == self.distributed
        self.solvent()
        self.settles_once()


def test_compute_market_state_machine(compute_market, governance, dataset, make_account):
    m = ComputeMachine
    m.cm = compute_market
    m.token = dataset.token
    m.db = dataset.address
    m.governance = governance
    m.stranger = make_account()
    m.workers = [make_account(100) for _ in range(N_WORKERS)]
    m.coords = [make_account() for _ in range(N_COORDS)]
    m.buyers = [make_account() for _ in range(N_BUYERS)]
    m.contributors = [make_account(1) for _ in range(N_CONTRIBUTORS)]
    run_state_machine_as_test(m, settings=COMPUTE_SETTINGS)
