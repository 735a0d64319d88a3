"""A backend in a dict: for tests, and as the smallest example of the backend contract.

It exists so that the shared backend test suite runs against two genuinely different
implementations, which is what keeps `BlobStore` honest about using only the interface. It keeps
whole blobs in memory and is shared only within one process, so it is no use beyond that.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import BinaryIO

from databright.store.errors import BlobNotFound, StoreError
from databright.store.lib.backend import BlobBackend, Chunk, StagedBlob, canonical_cid


class MemoryBackend(BlobBackend):
    """Blobs as immutable bytes in a dict guarded by a lock."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def stage(self) -> StagedBlob:
        return _MemoryStaged(self)

    def open(self, cid: str) -> BinaryIO:
        with self.lock:
            data = self.blobs.get(canonical_cid(cid))
        if data is None:
            raise BlobNotFound(f"no blob {cid}")
        return io.BytesIO(data)

    def exists(self, cid: str) -> bool:
        with self.lock:
            return canonical_cid(cid) in self.blobs

    def stored_size(self, cid: str) -> int:
        with self.lock:
            data = self.blobs.get(canonical_cid(cid))
        if data is None:
            raise BlobNotFound(f"no blob {cid}")
        return len(data)

    def delete(self, cid: str) -> bool:
        with self.lock:
            return self.blobs.pop(canonical_cid(cid), None) is not None

    def list(self) -> Iterator[str]:
        with self.lock:
            names = [*self.blobs]
        return iter(names)


class _MemoryStaged(StagedBlob):
    """Chunks collected privately; joined and published under the lock at commit."""

    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        self._parts: list[bytes] | None = []

    def write(self, data: Chunk) -> None:
        if self._parts is None:
            raise StoreError("write after commit or abort")
        self._parts.append(bytes(data))

    def rewrite_head(self, data: Chunk) -> None:
        if self._parts is None:
            raise StoreError("write after commit or abort")
        joined = b"".join(self._parts)
        if len(data) > len(joined):
            raise ValueError("rewrite_head may only replace bytes already written")
        self._parts = [bytes(data) + joined[len(data) :]]

    def commit(self, cid: str) -> bool:
        if self._parts is None:
            raise StoreError("commit after commit or abort")
        name = canonical_cid(cid)
        data = b"".join(self._parts)
        self._parts = None
        with self._backend.lock:
            if name in self._backend.blobs:
                return False
            self._backend.blobs[name] = data
            return True

    def abort(self) -> None:
        self._parts = None
