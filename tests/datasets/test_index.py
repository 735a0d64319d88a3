from __future__ import annotations

import numpy as np
import pytest

from databright.cid import cid_for_bytes
from databright.datasets import DatasetError, DatasetSpec
from databright.datasets.index import RowIndex
from databright.datasets.validate import validate_arrays

SPEC = DatasetSpec(name="t", feature_shape=(3,), labels=(0, 1))
rng = np.random.default_rng(3)


def ds(x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    return validate_arrays(x, y, SPEC)


def test_duplicates_are_found_whatever_their_labels() -> None:
    x = rng.normal(size=(10, 3))
    accepted = ds(x[:6], np.zeros(6, dtype=int))
    cid = cid_for_bytes(accepted.to_bytes())
    index = RowIndex()
    assert index.add(cid, accepted) == 6
    assert index.add(cid, accepted) == 0
    new = ds(np.concatenate([x[6:], x[[1, 4]]]), np.array([0, 1, 0, 1, 1, 1]))  # rows 1 and 4 relabelled
    assert index.duplicates(new) == [(4, cid), (5, cid)]
    assert index.duplicate_fraction(new) == pytest.approx(2 / 6)
    assert RowIndex.from_bytes(index.to_bytes()).rows == index.rows


def test_corrupt_index_is_refused() -> None:
    with pytest.raises(DatasetError, match="not a row index"):
        RowIndex.from_bytes(b"DBRI1" + b"\x00" * 3)
    with pytest.raises(DatasetError, match="not a row index"):
        RowIndex.from_bytes(b"junk")
