"""What each contributor's data was worth to one job, and the share of its data fee that pays for it.

Why per job: the oracle values a contribution once, when it is voted on, but the market's promise is
that a data point is paid by its utility in the computation that uses it. So after a job trains and
before it settles, the coordinator (which holds the data and the trained model) computes the exact
KNN-Shapley value (databright.valuation) of every training sample on the job's evaluation split, in
the embedding space of the trained model: the input of its last layer (the penultimate layer's
output), or the raw features for a model with no hidden layer, as the report states. A KNN on the
model's own features asks "which samples taught the model the representation that classifies the
held-out points", at the cost of one forward pass plus the kernel.

Values are summed per registry entry and per contributor. The job's value pool (its data fee times
the dataset's valueShareBps, fixed when the job was posted) is split pro rata to the contributors'
positive totals; a contributor whose total is zero or negative is paid nothing, and within one
contributor an entry's attribution follows its positive value. Amounts are floored to wei; the
rounding dust is not paid by value and goes to the dividends with the rest of the data fee.

Everything is a pure function of the model bytes, the registry data and the job spec, so anyone with
the model and a right to the data recomputes the same report (`databright job values ID --verify`).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from databright.chain.compute_market import Job
from databright.chain.merkle import ValueTree
from databright.cid import cid_from_digest
from databright.compute.data import TrainingData
from databright.compute.errors import ComputeError
from databright.market import Market
from databright.store.client import StoreClient
from databright.training.replica import Replica
from databright.training.spec import JobSpec
from databright.valuation import KNNShapley

BPS = 10_000
QUANTUM = 10**12  # values are compared in units of 1e-12 when they are turned into wei
VERSION = 1


@dataclass(frozen=True)
class Entry:
    """A registry entry the job trained on: its CID and the account that contributed it."""

    cid: str
    contributor: str


@dataclass(frozen=True)
class JobValues:
    """The value report and the payouts it implies (wei per contributor, positive ones only)."""

    report: dict[str, Any]

    @property
    def payouts(self) -> dict[str, int]:
        return {c["address"]: int(c["amount_wei"]) for c in self.report["contributors"] if int(c["amount_wei"]) > 0}

    @property
    def paid(self) -> int:
        return sum(self.payouts.values())

    def root(self) -> bytes | None:
        payouts = self.payouts
        return ValueTree.of(list(payouts.items())).root if payouts else None

    def tree(self) -> ValueTree:
        if not self.payouts:
            raise ComputeError(f"job {self.report['job']} paid nobody by value: there is no value tree")
        return ValueTree.of(list(self.payouts.items()))


def embedding(model: nn.Sequential, x: np.ndarray[Any, Any], batch: int = 2048) -> tuple[np.ndarray[Any, Any],
                                                                                         dict[str, Any]]:
    """The features the model's last layer sees, or the raw (flattened) features when nothing with
    parameters comes before that layer; with a description for the report."""
    layers = list(model)
    body = nn.Sequential(*layers[:-1])
    learned = any(p.numel() for p in body.parameters())
    if not learned:
        flat = x.reshape(len(x), -1).astype(np.float64)
        return flat, {"kind": "raw features", "dims": int(flat.shape[1]),
                      "why": "the model has no hidden layer: its only layer reads the inputs themselves"}
    model.eval()
    with torch.no_grad():
        parts = [body(torch.from_numpy(np.ascontiguousarray(x[i : i + batch]))).reshape(min(batch, len(x) - i), -1)
                 for i in range(0, len(x), batch)]
    out = torch.cat(parts).numpy().astype(np.float64) if parts else np.zeros((0, 0))
    return out, {"kind": "penultimate layer", "dims": int(out.shape[1]),
                 "layer": f"input of the last layer ({type(layers[-1]).__name__}), after {type(layers[-2]).__name__}"}


def sample_values(k: int, data: TrainingData, model: nn.Sequential) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
    """Exact KNN-Shapley value of every training sample on the evaluation split, in the model's embedding."""
    train, described = embedding(model, data.x_train)
    held_out, _ = embedding(model, data.x_eval)
    result = KNNShapley(k=k, n_jobs=2).fit(train, data.y_train, held_out, data.y_eval).result_
    return np.asarray(result.values), described


def _split(total: int, weights: list[int]) -> list[int]:
    """`total` pro rata to integer weights, floored; all zeros when no weight is positive."""
    whole = sum(weights)
    return [total * w // whole for w in weights] if whole > 0 else [0] * len(weights)


def _quantum(value: float) -> int:
    return max(0, round(value * QUANTUM))


def value_report(job_id: int, spec: JobSpec, spec_cid: str, data: TrainingData, entries: list[Entry],
                 values: np.ndarray[Any, Any], described: dict[str, Any], model_hash: str, data_fee: int,
                 value_share_bps: int) -> JobValues:
    """Sums the sample values per entry and contributor and turns them into wei (see the module doc)."""
    if len(entries) != len(data.entry_cids) or any(e.cid != c for e, c in zip(entries, data.entry_cids, strict=True)):
        raise ComputeError(f"job {job_id}: the registry's entries do not match the data the job trained on")
    if spec.valuation is None:
        raise ComputeError(f"job {job_id}'s spec turns valuation off")
    per_entry = np.bincount(data.entry_of_train, weights=values, minlength=len(entries))
    samples = np.bincount(data.entry_of_train, minlength=len(entries))
    pool = data_fee * value_share_bps // BPS
    people = list(dict.fromkeys(e.contributor for e in entries))
    totals = {c: float(sum(per_entry[i] for i, e in enumerate(entries) if e.contributor == c)) for c in people}
    amounts = dict(zip(people, _split(pool, [_quantum(totals[c]) for c in people]), strict=True))
    entry_amounts = [0] * len(entries)
    for c in people:
        mine = [i for i, e in enumerate(entries) if e.contributor == c]
        parts = _split(amounts[c], [_quantum(float(per_entry[i])) for i in mine])
        if amounts[c] and parts:  # the floor's remainder to the contributor's most valuable entry
            parts[int(np.argmax([per_entry[i] for i in mine]))] += amounts[c] - sum(parts)
        for i, a in zip(mine, parts, strict=True):
            entry_amounts[i] = a
    paid = sum(amounts.values())
    report = {
        "version": VERSION, "job": job_id, "spec_cid": spec_cid, "spec": json.loads(spec.to_bytes()),
        "model_sha256": model_hash, "k": spec.valuation.k, "embedding": described,
        "train_samples": data.n_train, "eval_samples": len(data.y_eval),
        "data_fee_wei": data_fee, "value_share_bps": value_share_bps, "pool_wei": pool, "paid_wei": paid,
        "dust_wei": pool - paid,
        "rule": "pool * positive contributor value / sum of positive contributor values, floored; "
                "the rest of the data fee (dust included) is paid as dividends",
        "entries": [{"index": i, "cid": e.cid, "contributor": e.contributor, "samples": int(samples[i]),
                     "value": float(per_entry[i]), "amount_wei": entry_amounts[i]} for i, e in enumerate(entries)],
        "contributors": [{"address": c, "value": totals[c], "amount_wei": amounts[c]} for c in people],
        "sample_values_sha256": hashlib.sha256(np.asarray(values, dtype="<f8").tobytes()).hexdigest(),
    }
    values_ = JobValues(report)
    root = values_.root()
    report["root"] = "0x" + root.hex() if root is not None else None
    return values_


def load_model(spec: JobSpec, data: TrainingData, model: bytes) -> nn.Sequential:
    """The trained model from the bytes the buyer receives (a torch state dict)."""
    replica = Replica(spec, data.feature_shape, data.n_classes)
    replica.model.load_state_dict(torch.load(io.BytesIO(model), weights_only=True))
    return replica.model


def report_bytes(values: JobValues) -> bytes:
    return json.dumps(values.report, sort_keys=True, indent=1).encode()


@dataclass(frozen=True)
class Settlement:
    """What completeJob needs of the value step: the stored report's CID (None: valuation off)
    and the wei each contributor may claim."""

    value_cid: str | None = None
    payouts: dict[str, int] | None = None


def registry_entries(market: Market, database: str) -> list[Entry]:
    return [Entry(cid_from_digest(e.cid_digest), e.contributor) for e in market.entries(database)]


def measure(market: Market, job: Job, spec: JobSpec, data: TrainingData, model: nn.Sequential,
            model_hash: str) -> JobValues:
    """The value report of a trained job, with the value share the chain fixed when it was posted."""
    if spec.valuation is None:
        raise ComputeError(f"job {job.id} turned valuation off: there is nothing to measure")
    values, described = sample_values(spec.valuation.k, data, model)
    bps = market.compute.job_value(job.id).value_share_bps
    return value_report(job.id, spec, job.spec_cid, data, registry_entries(market, job.database), values,
                        described, model_hash, job.data_fee, bps)


def settle_values(market: Market, store: StoreClient, job: Job, spec: JobSpec, data: TrainingData,
                  model: nn.Sequential, model_hash: str) -> Settlement:
    """The coordinator's value step: measures, stores the report, returns what completeJob records."""
    if spec.valuation is None:
        return Settlement()
    values = measure(market, job, spec, data, model, model_hash)
    return Settlement(store.upload_bytes(report_bytes(values)), values.payouts)
