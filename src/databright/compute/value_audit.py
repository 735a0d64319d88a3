"""Reading, checking and claiming a job's value payouts: what contributors and auditors run.

The chain holds a job's value root (its first 160 bits next to the unclaimed pool, the whole root in
the JobValued event) and the value report's CID; the report in the store holds every amount. So a
claim rebuilds the tree from the report, checks that it gives the root the chain recorded, and sends
the acting account's leaf with its proof. An audit (`verify`) goes further: it recomputes the values
from the trained model and the registry data and checks the report and the root against them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

from databright.chain.compute_market import JobState
from databright.cid import cid_for_bytes, cid_from_digest
from databright.compute.data import prepare
from databright.compute.errors import ComputeError
from databright.compute.job_value import Entry, JobValues, load_model, sample_values, value_report
from databright.datasets import load_canonical
from databright.market import Market
from databright.market.data import request_spec
from databright.store.client import StoreClient
from databright.training.spec import JobSpec

REL_TOLERANCE = 1e-9  # a recomputed value may differ from the report's in the last bits (summation order)


def load_values(market: Market, store: StoreClient, job_id: int) -> JobValues:
    """The job's value report from the store, checked against the root the chain recorded."""
    record = market.compute.value_record(job_id)
    if record is None:
        state = market.compute.job(job_id).state
        why = "is not completed yet" if state is not JobState.COMPLETED else "was completed without valuation"
        raise ComputeError(f"job {job_id} {why}: it has no value report")
    values = JobValues(json.loads(store.get_bytes(record["report_cid"])))
    root = values.root()
    if (root or bytes(32)) != record["root"]:
        raise ComputeError(f"job {job_id}'s value report {record['report_cid']} does not give the root the chain "
                           "recorded: its amounts are not what is claimable")
    return values


def claim(market: Market, store: StoreClient, job_id: int) -> int:
    """Claims the acting account's value payout in the job; returns the wei it received."""
    values = load_values(market, store, job_id)
    who = market.account
    if who not in values.payouts:
        raise ComputeError(f"{who} has no value payout in job {job_id}")
    if market.compute.value_claimed(job_id, who):
        raise ComputeError(f"{who} already claimed its value payout in job {job_id}")
    tree = values.tree()
    i = tree.index_of(who)
    return market.compute.claim_value(job_id, tree.leaves[i][1], tree.proof(i))


@dataclass(frozen=True)
class Unclaimed:
    job_id: int
    amount: int


def unclaimed(market: Market, store: StoreClient, database: str, account: str) -> list[Unclaimed]:
    """Value payouts of `account` in the request's jobs that it has not claimed yet."""
    out = []
    for job in market.compute.jobs(state=JobState.COMPLETED):
        if job.database != database or market.compute.value_record(job.id) is None:
            continue
        amount = load_values(market, store, job.id).payouts.get(account, 0)
        if amount and not market.compute.value_claimed(job.id, account):
            out.append(Unclaimed(job.id, amount))
    return out


@dataclass
class Audit:
    """The outcome of `verify`: what was checked, and every mismatch found (none: it holds)."""

    values: JobValues
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(market: Market, store: StoreClient, job_id: int, model: bytes) -> Audit:
    """Recomputes the job's values from `model` (the trained model's bytes, as its buyer received
    them) and the registry data read with the acting account's right; compares with the report."""
    job = market.compute.job(job_id)
    audit = Audit(load_values(market, store, job_id))
    audit.checked.append("the report's amounts give the value root recorded on-chain")
    report = audit.values.report
    if hashlib.sha256(model).hexdigest() != (job.model_hash or ""):
        audit.problems.append("the model given is not the one whose hash the coordinator committed on-chain")
        return audit
    audit.checked.append("the model's sha-256 is the one committed on-chain")
    spec = JobSpec.from_bytes(json.dumps(report["spec"]), source=f"job {job_id}'s value report")
    if cid_for_bytes(spec.to_bytes()) != job.spec_cid:
        audit.problems.append("the report's job spec is not the one the job was posted with")
        return audit
    registry = [Entry(e["cid"], e["contributor"]) for e in report["entries"]]
    on_chain = [(cid_from_digest(e.cid_digest), e.contributor) for e in market.entries(job.database)]
    if on_chain[: len(registry)] != [(e.cid, e.contributor) for e in registry]:
        audit.problems.append("the report's entries are not the registry's (in order)")
        return audit
    parts = [load_canonical(store.get_bytes(e.cid), source=e.cid) for e in registry]
    data = prepare(parts, request_spec(market, store, job.database), spec.eval_fraction, spec.training.seed,
                   [e.cid for e in registry])
    values, described = sample_values(report["k"], data, load_model(spec, data, model))
    again = value_report(job_id, spec, job.spec_cid, data, registry, values, described, report["model_sha256"],
                         job.data_fee, market.compute.job_value(job_id).value_share_bps)
    audit.checked.append(f"recomputed {data.n_train} sample values on {len(data.y_eval)} held-out samples "
                         f"({described['kind']}, {described['dims']} dims, k = {report['k']})")
    for mine, theirs in zip(again.report["entries"], report["entries"], strict=True):
        if not math.isclose(mine["value"], theirs["value"], rel_tol=REL_TOLERANCE, abs_tol=1e-12):
            audit.problems.append(f"entry {mine['index']} is worth {mine['value']:.6g}, the report says "
                                  f"{theirs['value']:.6g}")
        if mine["samples"] != theirs["samples"]:
            audit.problems.append(f"entry {mine['index']} has {mine['samples']} training samples, the report says "
                                  f"{theirs['samples']}")
    if again.payouts != audit.values.payouts:
        audit.problems.append("the recomputed payouts differ from the report's")
    else:
        audit.checked.append("the recomputed payouts are the report's, to the wei")
    if again.report["root"] != report["root"]:
        audit.problems.append("the recomputed value root differs from the one recorded on-chain")
    else:
        audit.checked.append("the recomputed value root is the one recorded on-chain")
    return audit

