"""Every kind of bad contribution is refused with where and why; good ones become one canonical form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from databright.cid import cid_for_bytes
from databright.datasets import DatasetError, DatasetSpec, load_canonical, row_hashes, validate_file
from databright.datasets.writers import write_dataset
from databright.errors import ConfigError

SPEC = DatasetSpec(name="tiny", feature_shape=(2, 2), dtype="float64", labels=(0, 1, 2), min_samples=3,
                   max_bytes=10_000)
rng = np.random.default_rng(0)
X = rng.integers(0, 16, size=(6, 2, 2)).astype(np.float64)
Y = np.array([0, 1, 2, 0, 1, 2])


def write(path: Path, x: Any = X, y: Any = Y) -> Path:
    return write_dataset(path, np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".parquet"])
def test_same_samples_same_cid_in_every_format(tmp_path: Path, suffix: str) -> None:
    ds = validate_file(write(tmp_path / f"d{suffix}"), SPEC)
    reference = validate_file(write(tmp_path / "ref.npz"), SPEC)
    assert cid_for_bytes(ds.to_bytes()) == cid_for_bytes(reference.to_bytes())
    back = load_canonical(ds.to_bytes())
    assert back.x.shape == (6, 2, 2) and back.x.dtype == np.float64 and back.y.dtype == np.int64
    np.testing.assert_array_equal(back.x, X)
    np.testing.assert_array_equal(back.y, Y)


def test_row_hashes_find_duplicates_whatever_the_label(tmp_path: Path) -> None:
    ds = validate_file(write(tmp_path / "a.npz", x=np.concatenate([X, X[:1]]), y=[*Y, 2]), SPEC)
    hashes = row_hashes(ds)
    assert len(hashes) == 7 and hashes[0] == hashes[6] and len(set(hashes)) == len(set(map(bytes, X.reshape(6, -1))))


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".parquet"])
@pytest.mark.parametrize(
    ("x", "y", "problem", "row", "column"),
    [
        (np.where(np.arange(24).reshape(6, 2, 2) == 9, np.nan, X), Y, "non-finite value", 2, {"f1", "x[1]"}),
        (np.where(np.arange(24).reshape(6, 2, 2) == 4, np.inf, X), Y, "non-finite value", 1, {"f0", "x[0]"}),
        (X, [0, 1, 2, 7, 1, 2], "unknown label", 3, {"label", "y"}),
        (X[:2], Y[:2], "too few samples", None, {None}),
    ],
)
def test_bad_values_are_located(tmp_path: Path, suffix: str, x: Any, y: Any, problem: str, row: int | None,
                                column: set[str | None]) -> None:
    with pytest.raises(DatasetError) as info:
        validate_file(write(tmp_path / f"bad{suffix}", x, y), SPEC)
    err = info.value
    assert (err.problem, err.row, err.file) == (problem, row, f"bad{suffix}")
    assert err.column in column
    assert f"bad{suffix}" in str(err) and problem in str(err)


def test_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="wrong feature shape") as info:
        validate_file(write(tmp_path / "s.npz", x=np.zeros((6, 3))), SPEC)
    assert (info.value.expected, info.value.found) == ("(2, 2)", "(3,)")
    with pytest.raises(DatasetError, match="wrong header"):
        validate_file(write(tmp_path / "s.csv", x=np.zeros((6, 3))), SPEC)
    with pytest.raises(DatasetError, match="wrong columns"):
        validate_file(write(tmp_path / "s.parquet", x=np.zeros((6, 3))), SPEC)


def test_wrong_dtype(tmp_path: Path) -> None:
    spec = SPEC.model_copy(update={"dtype": "uint8"})
    with pytest.raises(DatasetError, match="does not fit the spec's dtype") as info:
        validate_file(write(tmp_path / "t.npz", x=X + 0.5), spec)
    assert (info.value.row, info.value.column) == (0, "x[0]")
    with pytest.raises(DatasetError, match="does not fit") as info:
        validate_file(write(tmp_path / "t.csv", x=X * 100), spec)
    with pytest.raises(DatasetError, match="not real numbers"):
        validate_file(write(tmp_path / "u.npz", x=X.astype(str)), spec)


def test_empty_oversized_truncated_and_unknown_formats(tmp_path: Path) -> None:
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(DatasetError, match="empty file"):
        validate_file(tmp_path / "e.npz", SPEC)
    big = write(tmp_path / "big.npz", x=np.zeros((600, 2, 2)), y=np.zeros(600))
    with pytest.raises(DatasetError, match="file too large"):
        validate_file(big, SPEC)
    good = write(tmp_path / "g.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetError, match="unreadable or truncated"):
        validate_file(tmp_path / "cut.npz", SPEC)
    good_pq = write(tmp_path / "g.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(good_pq[:-20])
    with pytest.raises(DatasetError, match="unreadable or truncated"):
        validate_file(tmp_path / "cut.parquet", SPEC)
    (tmp_path / "d.json").write_text("{}")
    with pytest.raises(DatasetError, match="format not accepted"):
        validate_file(tmp_path / "d.json", SPEC)
    with pytest.raises(DatasetError, match="no such file"):
        validate_file(tmp_path / "missing.npz", SPEC)
    np.savez(tmp_path / "nolabels.npz", x=X)
    with pytest.raises(DatasetError, match="missing array 'y'"):
        validate_file(tmp_path / "nolabels.npz", SPEC)


def test_csv_row_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:3], lines[3] + ",9", *lines[4:]]) + "\n")
    with pytest.raises(DatasetError, match="wrong number of values") as info:
        validate_file(path, SPEC)
    assert info.value.row == 2
    path.write_text("\n".join([*lines[:2], lines[2].replace(lines[2].split(",")[2], "abc", 1), *lines[3:]]) + "\n")
    with pytest.raises(DatasetError, match="not a number") as info:
        validate_file(path, SPEC)
    assert (info.value.row, info.value.column) == (1, "f1")


def test_parquet_nulls_are_located(tmp_path: Path) -> None:
    cols = {"label": pa.array(Y)} | {f"f{i}": pa.array(X.reshape(6, -1)[:, i]) for i in range(4)}
    cols["f2"] = pa.array([1.0, 2.0, None, 3.0, 4.0, 5.0])
    pq.write_table(pa.table(cols), tmp_path / "n.parquet")
    with pytest.raises(DatasetError, match="missing value") as info:
        validate_file(tmp_path / "n.parquet", SPEC)
    assert (info.value.row, info.value.column) == (2, "f2")


def test_spec_round_trip_and_refusals() -> None:
    assert DatasetSpec.from_bytes(SPEC.to_bytes()) == SPEC
    assert cid_for_bytes(SPEC.to_bytes()) == cid_for_bytes(DatasetSpec.from_bytes(SPEC.to_bytes()).to_bytes())
    for bad in ['{"name": "x", "feature_shape": [0], "labels": [0, 1]}',
                '{"name": "x", "feature_shape": [2], "labels": [1, 1]}',
                '{"name": "x", "feature_shape": [2], "labels": [0, 1], "task": "regression"}',
                '{"name": "x", "feature_shape": [2], "labels": [0, 1], "colour": "red"}', "not json"]:
        with pytest.raises(ConfigError, match="not a valid spec"):
            DatasetSpec.from_bytes(bad)
