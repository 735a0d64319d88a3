"""Slash evidence anyone with a read right on the dataset can check: `databright evidence verify CID`.

When TMR (or a spot check) catches a deviating worker, the evidence stored beside the slash holds the
deviator's own signed results and the agreeing workers' — each the worker's EIP-191 signature over
(job, unit, role, digest of the request, digest of the reply), with the reply body itself — and the
unit's input (the agreed state it started from). A verifier re-reads the job's spec from the chain and
the training data with its right, rebuilds the exact request each worker was sent (so the signed
request digest proves what the worker was given), checks every signature and hash, re-runs the unit
and confirms that the deviator's signed result differs from the re-run and the majority's equals it.

A lone worker does a unit in one message, so its evidence is one signed result per group (here). A
split stage or a data-parallel member does it in many (activations, gradients, gradient shares,
states): its evidence is the signed transcript of the unit, re-run message by message
(`evidence_groups`, `evidence_replay`). Large attachments (the input state, the reply bodies) are
stored content-addressed beside the evidence document, which names them by CID.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from databright.compute.evidence_groups import verify_groups
from databright.compute.handle import Receipt
from databright.compute.schedule import Unit, schedule
from databright.protocol import worker_pb2 as pb
from databright.protocol.codec import encode_all
from databright.protocol.signing import ResultStatement, body_digest, digest, signed_by
from databright.training.replica import Replica, packed_state_hash

FORMAT = "databright-evidence-1"


def input_hash(state_hash: str, unit: Unit) -> str:
    """What every group was given: the agreed state and the unit's sample indices, in order."""
    h = hashlib.sha256(state_hash.encode())
    for batch in unit.batches:
        h.update(np.asarray(batch, dtype="<i8").tobytes())
    return h.hexdigest()


def signed_result(address: str, receipt: Receipt) -> dict[str, Any]:
    """One signed result as it goes into evidence (its reply body becomes an attachment)."""
    return {"address": address, "statement": asdict(receipt.statement), "signature": receipt.signature.hex(),
            "body": receipt.body}


def run_unit_request(data_x: Any, data_y: Any, unit: Unit, every: int) -> pb.RunUnit:
    """The request body a worker is sent for `unit` (how the coordinator builds it, `WorkerHandle.run_unit`)."""
    return pb.RunUnit(xs=encode_all([data_x[b] for b in unit.batches]),
                      ys=encode_all([data_y[b] for b in unit.batches]), every=every)


@dataclass
class Verdict:
    checks: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, what: str, ok: bool) -> bool:
        self.checks.append((what, ok))
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok in self.checks)


def verify(evidence: dict[str, Any], spec_json: bytes, data: Any, fetch: Any) -> Verdict:
    """Checks `evidence` against the job's spec and data; `fetch(cid) -> bytes` reads attachments. Malformed
    evidence (missing or mistyped fields) is a failed check, never an exception."""
    from databright.training.spec import JobSpec

    v = Verdict()
    spec = JobSpec.from_bytes(spec_json)
    if not v.check("the evidence is in the databright format", evidence.get("format") == FORMAT):
        return v
    try:
        _verify(v, evidence, spec, data, fetch)
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # a field missing or of the wrong type
        v.check(f"the evidence is complete and well formed ({type(exc).__name__}: {str(exc)[:120]})", False)
    return v


def _verify(v: Verdict, evidence: dict[str, Any], spec: Any, data: Any, fetch: Any) -> None:
    step = int(evidence["step"])
    units = [u for u in schedule(spec, data.n_train) if u.start == step]
    if not v.check(f"step {step} starts a unit of the job's schedule", len(units) == 1):
        return
    (unit,) = units
    state = fetch(evidence["input_state_cid"])
    v.check("the input state is the agreed state the evidence names",
            input_hash(packed_state_hash(state), unit) == evidence["input_hash"])
    if spec.protections.split_stages > 1 or spec.workers > 1:
        verify_groups(v, evidence, spec, data, unit, state, fetch)
    else:
        _verify_lone(v, evidence, spec, data, unit, state, fetch)


def _verify_lone(v: Verdict, evidence: dict[str, Any], spec: Any, data: Any, unit: Unit, state: bytes,
                 fetch: Any) -> None:
    step = unit.start
    every = int(evidence.get("every", 0))
    request = body_digest(run_unit_request(data.x_train, data.y_train, unit, every))
    claimed: dict[str, str] = {}
    for entry in evidence["signed"]:
        address, st = entry["address"], ResultStatement(**entry["statement"])
        who = address[:10]
        v.check(f"{who}: the signature is {address}'s over its statement",
                signed_by(st.text(), bytes.fromhex(entry["signature"]), address))
        v.check(f"{who}: the statement is about job {evidence['job']}, unit {step}",
                (st.job, st.unit, st.kind) == (str(evidence["job"]), step, "run_unit"))
        v.check(f"{who}: it signed for exactly the unit's inputs (request digest)", st.request == request)
        body = fetch(entry["body_cid"])
        v.check(f"{who}: the stored reply is the one it signed (reply digest)",
                digest(body) == st.reply)
        claimed[address] = packed_state_hash(pb.UnitResult.FromString(body).state)
    replica = Replica(spec, data.feature_shape, data.n_classes)
    replica.load(state)
    replica.train_steps([data.x_train[b] for b in unit.batches], [data.y_train[b] for b in unit.batches])
    truth = replica.state_hash()
    deviator = evidence["worker"]
    v.check("the re-run gives the agreed result", truth == evidence["agreed_final"])
    v.check(f"the slashed worker {deviator[:10]}'s signed result differs from the re-run",
            claimed.get(deviator, truth) != truth)
    agreeing = [a for a, h in claimed.items() if a != deviator and h == truth]
    v.check(f"{len(agreeing)} other signed results agree with the re-run", len(agreeing) >= 1)


def verify_stored(market: Any, store: Any, cid: str) -> tuple[dict[str, Any], Verdict]:
    """`databright evidence verify CID`: reads the evidence, the job's spec (named on-chain) and the dataset
    with `store`'s read right, and checks the evidence (`verify`)."""
    from databright.compute.data import load_registry, prepare
    from databright.training.spec import JobSpec

    evidence = json.loads(store.get_bytes(cid))
    job = market.compute.job(int(evidence["job"]))
    spec_json = store.get_bytes(job.spec_cid)
    spec = JobSpec.from_bytes(spec_json)
    dataset_spec, cids, parts = load_registry(market, store, job.database)
    data = prepare(parts, dataset_spec, spec.eval_fraction, spec.training.seed, cids)
    return evidence, verify(evidence, spec_json, data, store.get_bytes)


def dumps(evidence: dict[str, Any]) -> bytes:
    return json.dumps(evidence, sort_keys=True).encode()


def store_attachments(evidence: dict[str, Any], upload: Any) -> None:
    """Uploads the evidence's bytes (the input state, each signed reply's body) and puts their CIDs in
    their place, so the evidence is one JSON document naming its attachments."""
    state = evidence.pop("input_state", None)
    if isinstance(state, bytes):
        evidence["input_state_cid"] = upload(state)
    for entry in evidence.get("signed", []):
        body = entry.pop("body", None)
        if isinstance(body, bytes):
            entry["body_cid"] = upload(body)
    for t in evidence.get("transcripts", []):  # a transcript's bodies in one blob, each at [offset, length]
        blob = bytearray()
        for entry in t["signed"]:
            body = entry.pop("body", None) or b""
            entry["at"] = [len(blob), len(body)]
            blob += body
        t["bodies_cid"] = upload(bytes(blob))


def summary(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence without its attachments' bytes (what the job's progress and report keep)."""
    out = {k: v for k, v in evidence.items() if k not in ("input_state", "transcripts")}
    if "signed" in out:
        out["signed"] = [{k: v for k, v in e.items() if k != "body"} for e in out["signed"]]
    if "transcripts" in evidence:  # kept in the stored evidence; here only whose, and how long
        out["transcripts"] = {t["address"]: len(t["signed"]) for t in evidence["transcripts"]}
    return out
