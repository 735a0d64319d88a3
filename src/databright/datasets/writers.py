"""Writing datasets in the formats contributors submit (the demo and tests make their files here).

The layout mirrors `readers`: `.npz` holds `x` and `y`; `.csv` and `.parquet` hold a `label`
column then the flattened features `f0 … f{n-1}`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from databright.datasets.canonical import Array


def write_dataset(path: Path, x: Array, y: Array) -> Path:
    """Writes `x` (samples first) and integer labels `y` in the format named by the suffix."""
    n = int(y.shape[0])
    if path.suffix == ".npz":
        np.savez(path, x=x, y=y)
        return path
    flat = x.reshape(n, -1)
    columns = ["label", *(f"f{i}" for i in range(flat.shape[1]))]
    if path.suffix == ".csv":
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for label, row in zip(y.tolist(), flat.tolist(), strict=True):
                writer.writerow([label, *row])
    elif path.suffix == ".parquet":
        data = {"label": pa.array(y)} | {c: pa.array(flat[:, i]) for i, c in enumerate(columns[1:])}
        pq.write_table(pa.table(data), path)
    else:
        raise ValueError(f"no writer for {path.suffix!r}: use .npz, .csv or .parquet")
    return path
