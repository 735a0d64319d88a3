"""The job's report: what the buyer and the dataset's shareholders can check about a training run.

It is stored next to the model and named on-chain at settlement, so it cannot be rewritten after
payment. Per worker it gives the work it was paid for and the data it was shown (a count and a
hash of the set of sample indices, so that exposure can be audited without publishing the data);
per registry entry, how many of its samples the training used; and the accuracy curve.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from databright.compute.checkpoint import Progress
from databright.compute.data import TrainingData
from databright.compute.schedule import ShardPlan
from databright.compute.verification import detection_probability
from databright.training.models import parameter_count
from databright.training.replica import Replica
from databright.training.spec import JobSpec


def index_hash(indices: list[int]) -> str:
    """sha-256 of the sorted sample indices as little-endian int64: equal sets, equal hashes."""
    return hashlib.sha256(np.asarray(sorted(indices), dtype="<i8").tobytes()).hexdigest()


@dataclass(frozen=True)
class JobContext:
    job_id: int
    database: str
    spec_cid: str
    buyer: str
    coordinator: str


def build_report(ctx: JobContext, spec: JobSpec, data: TrainingData, progress: Progress,
                 final: Replica, model_hash: str) -> dict[str, Any]:
    seen: set[int] = set()
    for stats in progress.workers.values():
        seen.update(stats.distinct)
    used = np.bincount(data.entry_of_train[sorted(seen)], minlength=len(data.entry_cids)) if seen else \
        np.zeros(len(data.entry_cids), dtype=np.int64)
    total_params = parameter_count(final.model)
    exposure = max((len(s.distinct) / data.n_train for s in progress.workers.values()), default=0.0)
    roles: dict[str, list[str]] = {}
    for role, address in sorted(progress.roles.items()):
        roles.setdefault(address, []).append(role)
    workers = [
        {"address": address, "roles": roles.get(address, []), "units": s.units, "samples": s.samples, "steps": s.steps,
         "seconds": round(s.seconds, 3), "distinct_samples": len(s.distinct),
         "data_fraction": len(s.distinct) / data.n_train, "index_hash": index_hash(s.distinct),
         "parameters_held": progress.parameters.get(address, total_params),
         "parameter_fraction": progress.parameters.get(address, total_params) / total_params}
        for address, s in sorted(progress.workers.items())
    ]
    n = min(1000, data.n_train)
    return {
        "version": 1,
        "job": ctx.job_id, "database": ctx.database, "spec_cid": ctx.spec_cid,
        "buyer": ctx.buyer, "coordinator": ctx.coordinator,
        "model": {"kind": spec.model.kind, "parameters": total_params, "sha256": model_hash},
        "data": {"train_samples": data.n_train, "eval_samples": len(data.y_eval), "input_scale": data.scale,
                 "entries": [{"cid": c, "samples_used": int(u)} for c, u in zip(data.entry_cids, used, strict=True)]},
        "workers": workers,
        "faults": progress.faults,
        "curve": progress.curve,
        "final": {"train_accuracy": final.accuracy(data.x_train[:n], data.y_train[:n]),
                  "eval_accuracy": final.accuracy(data.x_eval, data.y_eval)},
        "protections": spec.protections.model_dump(mode="json"),
        "verification": {"redundancy": spec.protections.redundancy, "units_verified": progress.units_done,
                         "groups_agreed": progress.agreements, "deviations_detected": len(progress.deviations),
                         "deviations": progress.deviations,
                         "slashed_workers": sorted({d["worker"] for d in progress.deviations}),
                         "max_worker_data_fraction": exposure,
                         "data_cap": _cap_summary(spec, data, progress),
                         "split_stages": spec.protections.split_stages,
                         "max_worker_param_fraction": max((progress.parameters.get(a, total_params) / total_params
                                                           for a in progress.workers), default=0.0),
                         "spot_check": {"rate": spec.protections.spot_check_rate, "checks": progress.checks,
                                        "detection_probability_5pct": detection_probability(
                                            spec.protections.spot_check_rate, 0.05, progress.units_done),
                                        "formula": "1 - (1 - rate)^(fraction * units)"}},
    }


def _cap_summary(spec: JobSpec, data: TrainingData, progress: Progress) -> dict[str, Any] | None:
    """The cap the job ran under and whether every worker stayed within it (counted when sent)."""
    cap = spec.protections.data_cap
    if cap is None:
        return None
    plan = ShardPlan.build(data.n_train, cap, spec.training.seed)
    most = max((len(s.distinct) for s in progress.workers.values()), default=0)
    return {"cap": cap, "quota": plan.quota, "shards": plan.count, "max_samples_per_worker": most,
            "within_cap": most <= plan.quota,
            "owners": {role: address for role, address in sorted(progress.roles.items()) if ".shard" in role}}


def report_bytes(report: dict[str, Any]) -> bytes:
    return json.dumps(report, sort_keys=True, indent=1).encode()
