"""The compute market's pages as plain dicts: a job (chain + its verification report) and the workers.

A job's money and outcome come from the chain (state, fees, units, `WorkerPaid`, `WorkerSlashed`);
what happened inside the run comes from the report the coordinator stored and named on-chain at
settlement (`databright.compute.report`). The report format grows (TMR, the data cap, splitting
add fields), so it is read defensively: `report_view` picks out what the page knows how to draw,
shows a missing field as absent rather than failing, and hands every field it does not know to
the page as `extra`, so that a new field is visible the day the coordinator starts writing it.
"""

from __future__ import annotations

import math
from typing import Any

from databright.chain.compute_market import JobState
from databright.dashboard.core import Dashboard, utc
from databright.dashboard.value_views import job_value

# what the job page draws itself; any other key of the report (or of these blocks) goes to `extra`
KNOWN_TOP = {"version", "job", "database", "spec_cid", "buyer", "coordinator", "model", "data", "workers", "faults",
             "curve", "final", "protections", "verification", "value_report"}
KNOWN_VERIFICATION = {"redundancy", "units_verified", "groups_agreed", "deviations_detected", "deviations",
                      "slashed_workers", "max_worker_data_fraction", "split_stages", "max_worker_param_fraction",
                      "spot_check", "data_cap"}
KNOWN_CAP = {"cap", "quota", "shards", "max_samples_per_worker", "within_cap", "owners"}
KNOWN_WORKER = {"address", "units", "samples", "steps", "seconds", "distinct_samples", "data_fraction", "index_hash",
                "parameters_held", "parameter_fraction", "roles"}


def _number(value: Any) -> float | None:
    """A finite number from a report field, else None (absent, null, NaN or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def report_view(report: dict[str, Any] | None) -> dict[str, Any]:
    """The parts of a job report the page draws, each defaulting to None/empty when missing."""
    r = _dict(report)
    verification, protections = _dict(r.get("verification")), _dict(r.get("protections"))
    cap_block = _dict(verification.get("data_cap"))
    cap = _number(protections.get("data_cap"))
    cap = cap if cap is not None else _number(cap_block.get("cap"))
    quota = cap_block.get("quota") if isinstance(cap_block.get("quota"), int) else None
    owners = _dict(cap_block.get("owners"))
    workers = []
    for w in _list(r.get("workers")):
        w = _dict(w)
        fraction, distinct = _number(w.get("data_fraction")), w.get("distinct_samples")
        # the coordinator's quota is whole samples; without it, compare the fraction with the cap
        over = (distinct > quota if quota is not None and isinstance(distinct, int)
                else cap is not None and fraction is not None and fraction > cap)
        workers.append({
            "address": w.get("address"), "units": w.get("units"), "samples": w.get("samples"),
            "steps": w.get("steps"), "seconds": _number(w.get("seconds")),
            "distinct_samples": distinct, "data_fraction": fraction, "over_cap": over,
            # what the worker did for the job (a group's stage, a shard owner, a checker), as reported,
            # else the shards the cap block says it owned
            "roles": [str(x) for x in _list(w.get("roles"))] or sorted(
                role for role, holder in owners.items() if holder == w.get("address")),
            "index_hash": w.get("index_hash"), "parameters_held": w.get("parameters_held"),
            "parameter_fraction": _number(w.get("parameter_fraction")),
            "extra": {k: v for k, v in w.items() if k not in KNOWN_WORKER},
        })
    curve = []
    for point in _list(r.get("curve")):
        point = _dict(point)
        curve.append({k: _number(point.get(k)) for k in ("epoch", "train_loss", "train_accuracy", "eval_accuracy")})
    spot = _dict(verification.get("spot_check"))
    return {
        "version": r.get("version"),
        "model": _dict(r.get("model")),
        "data": {**_dict(r.get("data")), "entries": [_dict(e) for e in _list(_dict(r.get("data")).get("entries"))]},
        "final": {k: _number(_dict(r.get("final")).get(k)) for k in ("train_accuracy", "eval_accuracy")},
        "protections": protections,
        "data_cap": cap,
        "cap": None if not cap_block else {
            "quota": quota, "shards": cap_block.get("shards"), "within_cap": cap_block.get("within_cap"),
            "max_samples_per_worker": cap_block.get("max_samples_per_worker"), "owners": owners,
            "extra": {k: v for k, v in cap_block.items() if k not in KNOWN_CAP}},
        "redundancy": verification.get("redundancy", protections.get("redundancy")),
        "split_stages": verification.get("split_stages", protections.get("split_stages")),
        "units_verified": verification.get("units_verified"),
        "groups_agreed": verification.get("groups_agreed"),
        "deviations_detected": verification.get("deviations_detected"),
        "deviations": [_dict(x) for x in _list(verification.get("deviations"))],
        "slashed_workers": [str(x) for x in _list(verification.get("slashed_workers"))],
        "max_worker_data_fraction": _number(verification.get("max_worker_data_fraction")),
        "max_worker_param_fraction": _number(verification.get("max_worker_param_fraction")),
        "spot_check": {"rate": _number(spot.get("rate")), "checks": spot.get("checks"),
                       "detection_probability_5pct": _number(spot.get("detection_probability_5pct"))} if spot else None,
        "workers": workers,
        "faults": [_dict(x) for x in _list(r.get("faults"))],
        "curve": curve,
        "extra": {**{k: v for k, v in r.items() if k not in KNOWN_TOP},
                  **{f"verification.{k}": v for k, v in verification.items() if k not in KNOWN_VERIFICATION}},
    }


def job(d: Dashboard, ref: str) -> dict[str, Any]:
    c = d.compute
    jid = d.job_id(ref)
    block = d.block()
    j = c.job(jid)
    row = d.job_row(j, d.request_names())
    payouts = c.payouts(jid)
    slashes = c.slashes(jid)
    completed = j.state is JobState.COMPLETED
    blob = d.blobs.json(j.report_cid)
    spec = d.blobs.json(j.spec_cid)
    view = report_view(blob.data if blob is not None and blob.readable else None)
    reported = {w["address"]: w for w in view["workers"]}
    workers = []
    for address in dict.fromkeys([*j.workers, *payouts, *(s.worker for s in slashes)]):
        slash = next((s for s in slashes if s.worker == address), None)
        workers.append({
            "address": address,
            "units": c.units_of(jid, address) if completed else None,
            "paid_wei": payouts.get(address, 0),
            "slashed_wei": slash.amount if slash else 0,
            "evidence_cid": slash.evidence_cid if slash else None,
            "report": reported.get(address),
        })
    model_hash = view["model"].get("sha256")
    return {
        **row,
        "block": block,
        "now_utc": utc(d.market.chain.now()),
        "completed": completed,
        "workers": workers,
        "payouts_wei": sum(payouts.values()),
        "slashed_wei": sum(s.amount for s in slashes),
        "slashes": [{"worker": s.worker, "amount_wei": s.amount, "evidence_cid": s.evidence_cid} for s in slashes],
        # what the compute fee left after paying by units goes back to the buyer (integer division dust)
        "dust_wei": j.compute_fee - sum(payouts.values()) if completed else None,
        "model_hash_matches": None if model_hash is None or j.model_hash is None else model_hash == j.model_hash,
        "spec": spec.as_json() if spec is not None else None,
        "report_blob": None if blob is None else {k: v for k, v in blob.as_json().items() if k != "data"},
        "report": view if blob is not None and blob.readable else None,
        "value": job_value(d, j) if completed else None,
    }


def _sums(logs: list[Any], who: str) -> dict[str, int]:
    """Event amounts added up per account (the `who` field)."""
    out: dict[str, int] = {}
    for a in logs:
        out[str(a[who])] = out.get(str(a[who]), 0) + int(a["amount"])
    return out


def workers(d: Dashboard) -> dict[str, Any]:
    c = d.compute
    block = d.block()
    since = d.market.deployment.block
    slashes = c.slashes()
    jobs = c.jobs()
    withdrawals, earnings = _sums(c.market.logs("Withdrawal", since), "account"), _sums(
        c.market.logs("WorkerPaid", since), "worker")  # one query each, however many workers there are
    rows = []
    for w in c.workers():
        mine = [s for s in slashes if s.worker == w.address]
        rows.append({
            "address": w.address, "stake_wei": w.stake, "open_jobs": w.open_jobs, "registered": w.registered,
            "earnings_wei": earnings.get(w.address, 0), "withdrawable_wei": c.balance(w.address),
            "withdrawn_wei": withdrawals.get(w.address, 0),
            "slashed_wei": sum(s.amount for s in mine), "slashes": [s.job_id for s in mine],
            "jobs": [j.id for j in jobs if w.address in j.workers],
        })
    coordinators = []
    for address in dict.fromkeys(str(a["account"]) for a in c.market.logs("CoordinatorApproved", since)):
        info = c.coordinator(address)
        coordinators.append({"address": address, "signing_key": info.signing_key, "quote_hash": info.quote_hash,
                             "approved_block": info.approved_block, "approved": info.approved,
                             "jobs": [j.id for j in jobs if j.coordinator == address]})
    return {
        "block": block,
        "min_stake_wei": c.min_stake,
        "workers": rows,
        "coordinators": coordinators,
        "totals": {"stake_wei": sum(r["stake_wei"] for r in rows), "earnings_wei": sum(r["earnings_wei"] for r in rows),
                   "withdrawable_wei": sum(r["withdrawable_wei"] for r in rows),
                   "slashed_wei": sum(r["slashed_wei"] for r in rows)},
    }
