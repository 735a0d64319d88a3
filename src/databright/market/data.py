"""Real data in the market: specs and contributions travel through the encrypted store.

The order of `submit` is the guarantee a contributor relies on: validate first, so a bad
file is refused before a byte is uploaded or a proposal made; upload the canonical form, so
the CID on-chain names exactly the samples the curators will read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from databright.cid import cid_from_digest
from databright.datasets import CanonicalDataset, DatasetSpec, load_canonical, validate_file
from databright.market.client import Market
from databright.store.client import StoreClient
from databright.store.client.connections import Progress

Step = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Submission:
    proposal_id: int
    cid: str
    samples: int


def publish_spec(store: StoreClient, spec: DatasetSpec, validation: Path | None = None) -> tuple[str, DatasetSpec]:
    """Uploads the validation set (checked against the spec) and then the spec naming it."""
    if validation is not None:
        ds = validate_file(validation, spec)
        spec = spec.model_copy(update={"validation_cid": store.upload_bytes(ds.to_bytes())})
    return store.upload_bytes(spec.to_bytes()), spec


def request_spec(market: Market, store: StoreClient, database: str) -> DatasetSpec:
    """The spec of a request, fetched from the store by the CID its registry holds."""
    cid = market.request(database).spec_cid
    return DatasetSpec.from_bytes(store.get_bytes(cid), source=f"spec {cid}")


def submit(market: Market, store: StoreClient, database: str, path: Path, shares: int,
           step: Step = _quiet, progress: Progress | None = None) -> Submission:
    """validate → upload (encrypted at rest) → propose; nothing leaves the machine if validation fails.

    `progress(done, total)` is called as the upload's bytes go out (see `StoreClient.upload_bytes`)."""
    step("fetching the request's spec")
    spec = request_spec(market, store, database)
    step(f"validating {path.name}")
    ds = validate_file(path, spec)
    step(f"uploading {ds.n} samples")
    cid = store.upload_bytes(ds.to_bytes(), progress)
    step("proposing")
    pid = market.propose(database, cid, ds.n, shares)
    return Submission(pid, cid, ds.n)


def proposal_data(market: Market, store: StoreClient, proposal_id: int) -> tuple[str, CanonicalDataset]:
    """The data a proposal offers, read with the caller's right (curator, delegate, contributor)."""
    p = market.proposal(proposal_id)
    cid = cid_from_digest(p.body)
    return cid, load_canonical(store.get_bytes(cid), source=cid)
