"""One canonical form for every contribution, so the same samples always get the same CID.

Whatever format a contribution came in, it is stored as an uncompressed `.npz` with `x`
(samples by feature shape, in the spec's dtype, C order) and `y` (int64 labels). numpy writes
such archives byte-for-byte deterministically, and anyone can read them with `np.load`.
Row hashes (sha-256 of each sample's feature bytes) let the oracle find duplicates of
already accepted data whatever their labels.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from databright.datasets.errors import DatasetError
from databright.datasets.spec import DatasetSpec

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class CanonicalDataset:
    x: Array
    y: Array

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, x=self.x, y=self.y)
        return buf.getvalue()


def canonicalize(x: Array, y: Array, spec: DatasetSpec) -> CanonicalDataset:
    """Casts validated arrays into the canonical layout (the caller has checked the values)."""
    xs = np.ascontiguousarray(x.reshape((x.shape[0], *spec.feature_shape)), dtype=np.dtype(spec.dtype))
    return CanonicalDataset(xs, np.ascontiguousarray(y, dtype=np.int64))


def load_canonical(data: bytes, source: str = "blob") -> CanonicalDataset:
    """Reads bytes written by `CanonicalDataset.to_bytes`."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return CanonicalDataset(archive["x"], archive["y"])
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise DatasetError(source, f"not a canonical dataset ({exc})") from exc


def row_hashes(dataset: CanonicalDataset) -> list[bytes]:
    """sha-256 of each sample's features: equal rows have equal hashes, whatever their label."""
    rows = dataset.x.reshape(dataset.n, -1)
    return [hashlib.sha256(row.tobytes()).digest() for row in rows]
