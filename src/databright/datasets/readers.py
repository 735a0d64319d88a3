"""Reading `.npz`, `.csv` and `.parquet` contributions into arrays, with precise errors.

Tabular files carry one sample per row: a `label` column, then the flattened features
`f0 … f{n-1}`. Reading does not judge values (that is `validate`); it only refuses what
cannot be read at all, saying where.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from databright.datasets.canonical import Array
from databright.datasets.errors import DatasetError
from databright.datasets.spec import DatasetSpec


def expected_columns(spec: DatasetSpec) -> list[str]:
    return ["label", *(f"f{i}" for i in range(spec.n_features))]


def read_npz(path: Path, spec: DatasetSpec) -> tuple[Array, Array]:
    name = path.name
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in ("x", "y"):
                if key not in archive.files:
                    raise DatasetError(name, f"missing array {key!r}", expected="arrays 'x' and 'y'",
                                       found=", ".join(repr(f) for f in archive.files) or "none")
            x, y = archive["x"], archive["y"]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DatasetError(name, f"unreadable or truncated file ({exc})") from exc
    if y.ndim != 1:
        raise DatasetError(name, "labels must be one-dimensional", column="y", expected="(n,)", found=str(y.shape))
    if x.ndim < 1 or x.shape[0] != y.shape[0]:
        raise DatasetError(name, "x and y have different numbers of samples", expected=str(y.shape[0]),
                           found=str(x.shape[0] if x.ndim else 0))
    if tuple(x.shape[1:]) not in (spec.feature_shape, (spec.n_features,)):
        raise DatasetError(name, "wrong feature shape", column="x", expected=str(spec.feature_shape),
                           found=str(tuple(x.shape[1:])))
    return x, y


def read_csv(path: Path, spec: DatasetSpec) -> tuple[Array, Array]:
    name = path.name
    columns = expected_columns(spec)
    rows: list[list[float]] = []
    try:
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header != columns:
                raise DatasetError(name, "wrong header", row=None,
                                   expected=f"{len(columns)} columns label,f0..f{spec.n_features - 1}",
                                   found=f"{len(header or [])} columns {','.join((header or [])[:4])}…")
            for i, record in enumerate(reader):
                if len(record) != len(columns):
                    raise DatasetError(name, "wrong number of values", row=i, expected=str(len(columns)),
                                       found=str(len(record)))
                rows.append([_number(v, name, i, columns[j]) for j, v in enumerate(record)])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(name, f"unreadable file ({exc})") from exc
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    return table[:, 1:], table[:, 0]


def _number(text: str, name: str, row: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DatasetError(name, "not a number", row=row, column=column, expected="a number",
                           found=repr(text[:20])) from None


def read_parquet(path: Path, spec: DatasetSpec) -> tuple[Array, Array]:
    name = path.name
    columns = expected_columns(spec)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(name, f"unreadable or truncated file ({exc})") from exc
    if table.column_names != columns:
        raise DatasetError(name, "wrong columns", expected=f"label,f0..f{spec.n_features - 1}",
                           found=",".join(table.column_names[:4]) + "…")
    out = np.empty((table.num_rows, len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        col = table.column(column)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise DatasetError(name, "not a numeric column", column=column, expected="numbers", found=str(col.type))
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise DatasetError(name, "missing value", row=row, column=column, expected="a number", found="null")
        out[:, j] = col.to_numpy()
    return out[:, 1:], out[:, 0]


READERS = {".npz": read_npz, ".csv": read_csv, ".parquet": read_parquet}
