"""Job specs: canonical bytes, defaults that switch protections off, and clear refusals."""

from __future__ import annotations

import json

import pytest

from databright.compute.errors import JobSpecError
from databright.training.spec import JobSpec

from .conftest import BUYER_KEY, DATASET, job_spec


def test_round_trip_is_canonical() -> None:
    spec = job_spec(training={"epochs": 2, "seed": 5}, model={"kind": "vgg", "depth": 2})
    again = JobSpec.from_bytes(spec.to_bytes())
    assert again == spec
    assert again.to_bytes() == spec.to_bytes()
    assert b" " not in spec.to_bytes()


def test_defaults_are_plain_training() -> None:
    spec = job_spec()
    assert not spec.protections.any
    assert spec.protections.redundancy == 1 and spec.protections.data_cap is None
    assert spec.workers == 1 and spec.training.threads == 1


def test_dataset_is_checksummed_and_key_compressed() -> None:
    uncompressed = BUYER_KEY.public_key.format(compressed=False).hex()
    spec = job_spec(dataset=DATASET.lower(), buyer_key="0x" + uncompressed)
    assert spec.dataset == DATASET  # all-digit address: checksum form equals input
    assert spec.buyer_key == BUYER_KEY.public_key.format().hex()


@pytest.mark.parametrize(("fields", "message"), [
    ({"dataset": "0x12"}, "dataset"),
    ({"buyer_key": "abcd"}, "buyer_key"),
    ({"model": {"kind": "transformer"}}, "model.kind"),
    ({"training": {"epochs": 0}}, "training.epochs"),
    ({"training": {"lr": -1}}, "training.lr"),
    ({"eval_fraction": 0.9}, "eval_fraction"),
    ({"workers": 4, "training": {"batch_size": 2}}, "batch_size must be at least the number of workers"),
    ({"protections": {"redundancy": 2}}, "protections.redundancy"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_specs_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(JobSpecError, match="not a valid job spec") as info:
        job_spec(**fields)
    assert message in str(info.value)


def test_from_bytes_refuses_garbage() -> None:
    with pytest.raises(JobSpecError):
        JobSpec.from_bytes(b"{not json")
    with pytest.raises(JobSpecError, match="dataset"):
        JobSpec.from_bytes(json.dumps({"buyer_key": BUYER_KEY.public_key.format().hex()}))
