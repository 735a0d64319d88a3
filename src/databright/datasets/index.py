"""The row-hash index: which samples of a new contribution are already in the registry.

Every accepted entry's rows are hashed (sha-256 of the canonical feature bytes, labels left
out, so a relabelled copy is still a copy). The index maps each hash to the CID of the first
entry that holds it; the oracle asks it for a proposal's duplicates. It serialises to bytes
so it can be kept in the store next to the data it indexes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from databright.cid import cid_from_digest, digest_from_cid
from databright.datasets.canonical import CanonicalDataset, row_hashes
from databright.datasets.errors import DatasetError

_MAGIC = b"DBRI1"


@dataclass
class RowIndex:
    rows: dict[bytes, str] = field(default_factory=dict)

    def add(self, cid: str, dataset: CanonicalDataset) -> int:
        """Indexes an accepted entry; returns how many of its rows were new."""
        before = len(self.rows)
        for h in row_hashes(dataset):
            self.rows.setdefault(h, cid)
        return len(self.rows) - before

    def duplicates(self, dataset: CanonicalDataset) -> list[tuple[int, str]]:
        """(row, cid of the entry that already holds it) for every duplicated row, in row order."""
        return [(i, self.rows[h]) for i, h in enumerate(row_hashes(dataset)) if h in self.rows]

    def duplicate_fraction(self, dataset: CanonicalDataset) -> float:
        return len(self.duplicates(dataset)) / dataset.n if dataset.n else 0.0

    def to_bytes(self) -> bytes:
        cids = sorted(set(self.rows.values()))
        ref = {c: i for i, c in enumerate(cids)}
        out = [_MAGIC, struct.pack(">II", len(cids), len(self.rows))]
        out += [digest_from_cid(c) for c in cids]
        out += [h + struct.pack(">I", ref[c]) for h, c in sorted(self.rows.items())]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> RowIndex:
        try:
            if data[:5] != _MAGIC:
                raise ValueError("bad magic")
            n_cids, n_rows = struct.unpack(">II", data[5:13])
            if len(data) != 13 + 32 * n_cids + 36 * n_rows:
                raise ValueError("bad length")
            cids = [cid_from_digest(data[13 + 32 * i:45 + 32 * i]) for i in range(n_cids)]
            base = 13 + 32 * n_cids
            rows = {}
            for i in range(n_rows):
                rec = data[base + 36 * i:base + 36 * (i + 1)]
                rows[rec[:32]] = cids[struct.unpack(">I", rec[32:])[0]]
        except (ValueError, IndexError, struct.error) as exc:
            raise DatasetError("row index", f"not a row index ({exc})") from exc
        return cls(rows)
