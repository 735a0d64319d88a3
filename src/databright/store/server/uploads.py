"""The upload path of the store server: streaming a request body into the store, and who uploaded what.

`Receiver` moves an HTTP body into `BlobStore.put_stream` without ever holding it: the event loop
receives the body and gathers its pieces into blocks of at least `BLOCK` bytes, which go through a
queue of `QUEUE_BLOCKS` to the store running in a worker thread. Receiving thus overlaps hashing,
encryption and writing, a block costs one hop between the loop and the thread (not one per 256 KB
network read), and an upload that fails half-way (too large, client gone) makes the blocks raise
inside the store, which then keeps nothing.

`UploadIndex` records the uploader of each blob, the server's only metadata. Why: between its
upload and its proposal a blob is referenced nowhere on-chain, yet its contributor must be able
to read it back (to check it, or to propose it later). The uploader is that contributor. A blob
may have several uploaders (identical content sent by different accounts); each of them held
the bytes already, so letting every one of them read it back reveals nothing.

Why SQLite for a local store: it is in the standard library, its writes are atomic and durable,
and several server processes on one machine can share it safely. The file sits next to the
blobs folder and the master key (``<root>/uploads.sqlite3``); it holds only CIDs and addresses,
never data. A store on S3 keeps the same pairs in its bucket (`ObjectUploadIndex`), so servers
on several machines share them and hold no state of their own.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.types import Receive
from web3 import Web3

from databright.store.errors import BlobTooLarge
from databright.store.lib.backend import canonical_cid
from databright.store.lib.blobstore import BlobStore

if TYPE_CHECKING:
    from databright.store.lib.s3 import S3Backend

FILE_NAME = "uploads.sqlite3"
BLOCK = 4 << 20  # upload bytes handed to the store at a time
QUEUE_BLOCKS = 2  # blocks received ahead of the store: memory per upload ~ (QUEUE_BLOCKS + 2) * BLOCK

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    cid TEXT NOT NULL,
    uploader TEXT NOT NULL,
    first_at REAL NOT NULL,
    PRIMARY KEY (cid, uploader)
) WITHOUT ROWID
"""


@runtime_checkable
class Uploads(Protocol):
    """Who uploaded what (see the module docstring); `upload_index` gives a store's own."""

    def record(self, cid: str, uploader: str) -> None: ...

    def uploaders(self, cid: str) -> list[str]: ...

    def is_uploader(self, cid: str, address: str) -> bool: ...


def upload_index(store: BlobStore) -> Uploads:
    """The index that belongs with `store`'s backend: in its bucket for S3, else next to the blobs."""
    from databright.store.lib.s3 import S3Backend

    if isinstance(store.backend, S3Backend):
        return ObjectUploadIndex(store.backend)
    return UploadIndex(store.root)


class ObjectUploadIndex:
    """The (CID, uploader) pairs as empty objects in the store's bucket (see `S3Backend.add_note`)."""

    def __init__(self, backend: S3Backend) -> None:
        self.backend = backend

    def __repr__(self) -> str:
        return f"ObjectUploadIndex({self.backend!r})"

    def record(self, cid: str, uploader: str) -> None:
        self.backend.add_note(cid, _normal(uploader))

    def uploaders(self, cid: str) -> list[str]:
        return self.backend.notes(cid)

    def is_uploader(self, cid: str, address: str) -> bool:
        return self.backend.has_note(cid, _normal(address))


class UploadIndex:
    """The (CID, uploader) pairs of a local store in SQLite; thread-safe, shareable between processes."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / FILE_NAME
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection for all threads, serialised by the lock: the queries take microseconds.
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # Committed at once, synced at checkpoints: a power cut may lose the last records (their
            # uploaders can upload again), but no upload waits for an fsync of its own record.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"UploadIndex({str(self.path)!r})"

    def record(self, cid: str, uploader: str) -> None:
        """Notes that `uploader` uploaded `cid` (again is fine: the first time is kept)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO uploads (cid, uploader, first_at) VALUES (?, ?, ?)",
                (canonical_cid(cid), _normal(uploader), time.time()),
            )

    def uploaders(self, cid: str) -> list[str]:
        """Everyone who uploaded `cid`, first uploader first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT uploader FROM uploads WHERE cid = ? ORDER BY first_at", (canonical_cid(cid),)
            ).fetchall()
        return [str(row[0]) for row in rows]

    def is_uploader(self, cid: str, address: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM uploads WHERE cid = ? AND uploader = ?", (canonical_cid(cid), _normal(address))
            ).fetchone()
        return row is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _normal(address: str) -> str:
    """Addresses are stored checksummed, so that any spelling of one finds the same rows."""
    return str(Web3.to_checksum_address(address))


class ClientGone(Exception):
    """The uploading client disconnected before the end of its body."""


class _Aborted(Exception):
    """Raised inside the store's upload when the receiving side failed, so nothing is kept."""


class Receiver:
    """Moves one request body into `BlobStore.put_stream` (see the module docstring)."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive, self.limit = receive, limit
        self.size = 0
        self.ended = False  # the whole body was received
        self.error: BaseException | None = None

    async def into(self, store: BlobStore, named: Callable[[str], object] | None = None) -> str:
        """Stores the body; its CID. Raises BlobTooLarge or ClientGone with nothing kept.

        `named` is `BlobStore.put_stream`'s: called with the CID while the blob is made durable.
        """
        send, receive = anyio.create_memory_object_stream[list[bytes]](QUEUE_BLOCKS)
        producer = asyncio.get_running_loop().create_task(self._produce(send))
        put = functools.partial(store.put_stream, itertools.chain.from_iterable(self._blocks(receive)), named=named)
        try:
            return await anyio.to_thread.run_sync(put)
        except _Aborted:
            assert self.error is not None
            raise self.error from None
        finally:
            receive.close()  # a producer blocked on a full queue stops with BrokenResourceError
            if not producer.done():
                producer.cancel()
            await asyncio.wait([producer])
            if not producer.cancelled():
                producer.exception()  # retrieved: it was handled above, or is moot after a store error

    async def _produce(self, send: MemoryObjectSendStream[list[bytes]]) -> None:
        with send:
            try:
                parts: list[bytes] = []
                pending = 0
                while not self.ended:
                    message = await self.receive()
                    if message["type"] == "http.disconnect":
                        raise ClientGone()
                    chunk: bytes = message.get("body", b"")
                    self.ended = not message.get("more_body", False)
                    self.size += len(chunk)
                    if self.size > self.limit:
                        raise BlobTooLarge(f"upload exceeds {self.limit} bytes")
                    parts.append(chunk)
                    pending += len(chunk)
                    if pending >= BLOCK or (self.ended and pending):
                        await send.send(parts)
                        parts, pending = [], 0
            except BaseException as exc:
                self.error = exc  # set before `send` closes, so the consumer sees why the stream ended
                raise

    def _blocks(self, receive: MemoryObjectReceiveStream[list[bytes]]) -> Iterator[list[bytes]]:
        """Runs in the store's worker thread: each block costs one hop into the event loop."""
        while True:
            try:
                block = anyio.from_thread.run(receive.receive)
            except anyio.EndOfStream:
                if self.error is not None:
                    raise _Aborted() from self.error
                return
            yield block
