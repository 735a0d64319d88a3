"""The buyer's side: submit a job (spec to the store, payment to the chain) and fetch its result.

The buyer's public key goes into the spec from the buyer's own account, so the coordinator seals
the model to whoever paid; fetching checks the model against the hash the coordinator committed to
on-chain at settlement, so a swapped or damaged model is refused rather than written.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from databright.chain.compute_market import Job, JobState
from databright.chain.keys import signer
from databright.compute.errors import ComputeError, JobSpecError
from databright.compute.sealing import public_key_of, unseal
from databright.market import Market
from databright.store.client import StoreClient
from databright.training.spec import JobSpec


def buyer_spec(market: Market, fields: dict[str, Any], database: str | None = None) -> JobSpec:
    """A job spec from user fields, with the dataset (if given) and the buyer's key filled in."""
    fields = dict(fields)
    if database is not None:
        fields["dataset"] = market.resolve_request(database)
    if "dataset" not in fields:
        raise JobSpecError("the job spec names no dataset: give `dataset` in the file or --request")
    fields.setdefault("buyer_key", public_key_of(bytes(signer(market.chain).key)))
    return JobSpec.build(**fields)


def load_spec_fields(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise JobSpecError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise JobSpecError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise JobSpecError(f"{path} must hold a JSON object")
    return raw


@dataclass(frozen=True)
class Submitted:
    job_id: int
    spec_cid: str
    spec: JobSpec


def submit_job(market: Market, store: StoreClient, spec: JobSpec, data_fee: int, compute_fee: int,
               deadline: int) -> Submitted:
    """Stores the spec and posts the job with its payment in escrow until settlement or refund."""
    market.resolve_request(spec.dataset)  # refuses an address that is not one of the market's requests
    spec_cid = store.upload_bytes(spec.to_bytes())
    job_id = market.compute.post_job(spec.dataset, spec_cid, data_fee, compute_fee, deadline)
    return Submitted(job_id, spec_cid, spec)


@dataclass(frozen=True)
class Result:
    job: Job
    model: bytes
    report: dict[str, Any]

    def state_dict(self) -> Any:
        import torch

        return torch.load(io.BytesIO(self.model), weights_only=True)


def fetch_result(market: Market, store: StoreClient, job_id: int) -> Result:
    """Downloads, unseals and checks the trained model and the report of a completed job."""
    job = market.compute.job(job_id)
    if job.state != JobState.COMPLETED or job.result_cid is None or job.report_cid is None:
        raise ComputeError(f"job {job_id} is {job.state.name.lower()}, not completed: it has no result yet")
    if job.buyer != market.account:
        raise ComputeError(f"job {job_id} was bought by {job.buyer}; only its buyer can unseal the model")
    model = unseal(store.get_bytes(job.result_cid), bytes(signer(market.chain).key))
    if job.model_hash is None or hashlib.sha256(model).hexdigest() != job.model_hash.removeprefix("0x"):
        raise ComputeError(f"job {job_id}'s model does not match the hash the coordinator committed on-chain")
    report = json.loads(store.get_bytes(job.report_cid))
    return Result(job, model, report)
