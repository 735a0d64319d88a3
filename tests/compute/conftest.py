"""Shared pieces of the compute tests: the digits as registry entries, and a buyer key."""

from __future__ import annotations

import numpy as np
import pytest
from coincurve import PrivateKey
from sklearn.datasets import load_digits

from databright.compute.data import TrainingData, prepare
from databright.datasets import DatasetSpec
from databright.datasets.canonical import CanonicalDataset
from databright.training.spec import JobSpec

DIGITS_SPEC = DatasetSpec(name="digits", feature_shape=(8, 8), labels=tuple(range(10)))
BUYER_KEY = PrivateKey(b"\x07" * 32)
DATASET = "0x" + "11" * 20


def digits_parts(n: int = 600, entries: int = 3) -> list[CanonicalDataset]:
    d = load_digits()
    x, y = d.data[:n].reshape(-1, 8, 8), d.target[:n]
    return [CanonicalDataset(np.ascontiguousarray(a), b) for a, b in zip(np.array_split(x, entries),
                                                                           np.array_split(y, entries), strict=True)]


def job_spec(**fields: object) -> JobSpec:
    base: dict[str, object] = {"dataset": DATASET, "buyer_key": BUYER_KEY.public_key.format().hex()}
    base.update(fields)
    return JobSpec.build(**base)


@pytest.fixture(scope="session")
def digits_data() -> TrainingData:
    return prepare(digits_parts(), DIGITS_SPEC, 0.2, 0)
