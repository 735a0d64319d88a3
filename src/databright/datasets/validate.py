"""Validating a contribution against its request's spec, before anything is stored.

The checks run cheapest first (size on disk, format, readability, shape, counts, then the
values), and the first failure raises a DatasetError naming file, row and column, so a
contributor can fix the file without guessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from databright.datasets.canonical import Array, CanonicalDataset, canonicalize
from databright.datasets.errors import DatasetError
from databright.datasets.readers import READERS, expected_columns
from databright.datasets.spec import DatasetSpec


def validate_file(path: str | Path, spec: DatasetSpec) -> CanonicalDataset:
    """Reads and checks a contribution; returns it in canonical form."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DatasetError(name, "no such file")
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(name, "empty file")
    if size > spec.max_bytes:
        raise DatasetError(name, "file too large", expected=f"at most {spec.max_bytes} bytes", found=f"{size} bytes")
    suffix = path.suffix.lower()
    if suffix not in spec.formats:
        raise DatasetError(name, "format not accepted by this request", expected=", ".join(spec.formats),
                           found=suffix or "no extension")
    x, y = READERS[suffix](path, spec)
    return validate_arrays(x, y, spec, name, flat_columns=suffix != ".npz")


def validate_arrays(x: Array, y: Array, spec: DatasetSpec, name: str = "dataset",
                    flat_columns: bool = False) -> CanonicalDataset:
    """Checks arrays already in memory (the same rules as for files)."""
    n = int(y.shape[0])
    if n == 0:
        raise DatasetError(name, "no samples")
    if n < spec.min_samples:
        raise DatasetError(name, "too few samples", expected=f"at least {spec.min_samples}", found=str(n))
    columns = expected_columns(spec)[1:]
    flat = x.reshape(n, -1)
    if not np.issubdtype(flat.dtype, np.number) or np.issubdtype(flat.dtype, np.complexfloating):
        raise DatasetError(name, "features are not real numbers", expected=spec.dtype, found=str(flat.dtype))
    bad = ~np.isfinite(flat)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(name, "non-finite value", row=row, column=_col(columns, col, flat_columns),
                           expected="a finite number", found=str(flat[row, col]))
    target = np.dtype(spec.dtype)
    if np.issubdtype(target, np.integer):
        info = np.iinfo(target)
        wrong = (flat != np.round(flat)) | (flat < info.min) | (flat > info.max)
        if wrong.any():
            row, col = (int(i) for i in np.argwhere(wrong)[0])
            raise DatasetError(name, "value does not fit the spec's dtype", row=row,
                               column=_col(columns, col, flat_columns), expected=spec.dtype, found=str(flat[row, col]))
    labels = np.asarray(y)
    known = np.isin(labels, np.asarray(spec.labels)) & (labels == np.round(labels))
    if not known.all():
        row = int(np.flatnonzero(~known)[0])
        raise DatasetError(name, "unknown label", row=row, column="label" if flat_columns else "y",
                           expected=f"one of {list(spec.labels)}", found=str(labels[row]))
    return canonicalize(x, labels, spec)


def _col(columns: list[str], index: int, flat_columns: bool) -> str:
    return columns[index] if flat_columns else f"x[{index}]"
