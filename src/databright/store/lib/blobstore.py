"""`BlobStore`: content-addressed, encrypted at rest, every read checked against its CID.

A blob is named by the CID of its plaintext (CIDv1, raw, sha2-256), so a name is a promise about
the content and the store keeps it: uploads are hashed while they are encrypted and published
under the resulting CID only at the end (their data key bound to it, see `crypto`), and
downloads are decrypted, authenticated and hashed on the fly and fail with IntegrityError rather
than hand out bytes that do not match the name.

Memory stays flat whatever the blob size: data moves one segment (1 MiB by default) at a time.
The read APIs differ in when they release data, so that no caller can take a bad blob for a
good one by accident:

* `get_bytes` returns only after the whole blob is verified (for blobs that fit in memory);
* `read_to` writes to a temp file next to the destination and renames it into place only
  after the whole blob is verified, so the destination holds the full, checked blob or is
  untouched;
* `open_stream` yields segments as they are authenticated (each one is AES-GCM checked, so
  it comes from this store's master key and is in its place), but whether the blob as a whole
  matches its CID is known only at the end. It withholds the final segment until the hash has
  been checked and raises IntegrityError instead, so a consumer that reads to the end never
  finishes on a mismatch; one that acts on early segments must be ready to roll back. With
  `rehash=False` (the server, whose clients hash what they get) a format-2 blob is checked by
  its CID-bound key alone: another blob under this name fails at the header, before any segment.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from databright.config import home
from databright.store.errors import BlobTooLarge
from databright.store.lib.backend import BlobBackend, Chunk, StagedBlob, canonical_cid, cid_digest, cid_text
from databright.store.lib.blobstream import BlobStream
from databright.store.lib.crypto import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_BYTES,
    Opener,
    Sealer,
    check_segment_size,
    plaintext_size,
    split_segments,
)
from databright.store.lib.fsutil import StreamingWriter, read_exact
from databright.store.lib.keys import MasterKey, master_key
from databright.store.lib.local import LocalBackend
from databright.store.lib.pipeline import Pipelined, PipelinedSha256, submit


@runtime_checkable
class Readable(Protocol):
    """Anything with a binary `read(n)`: open files, sockets' makefile(), BytesIO."""

    def read(self, size: int = ..., /) -> bytes: ...


class BlobStore:
    """The encrypted content-addressed blob store (library API; see the module docstring)."""

    def __init__(
        self,
        root: Path | None = None,
        backend: BlobBackend | None = None,
        max_blob_bytes: int | None = None,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        master: MasterKey | None = None,
    ) -> None:
        """Opens (creating on first use) the store in `root`, default ``home() / "store"``.

        `root` holds the master key unless `master` is given or the environment names one (see
        `keys.master_key`), and the blobs too unless another `backend` is given.
        `segment_size` only affects new uploads; reads take it from each blob's header.
        """
        if max_blob_bytes is not None and max_blob_bytes < 0:
            raise ValueError("max_blob_bytes must be >= 0")
        self.root = Path(root) if root is not None else home() / "store"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.max_blob_bytes = max_blob_bytes
        self.segment_size = check_segment_size(segment_size)
        self._master = master if master is not None else master_key(self.root)
        self.backend = backend if backend is not None else LocalBackend(self.root / "blobs")

    def __repr__(self) -> str:
        return f"BlobStore(root={str(self.root)!r}, backend={self.backend!r})"

    # -- writing -------------------------------------------------------------------------------

    def put_bytes(self, data: Chunk) -> str:
        """Stores `data`; returns its CID."""
        view = memoryview(data).cast("B")
        self._check_limit(len(view))
        step = self.segment_size
        return self.put_stream(view[i : i + step] for i in range(0, len(view), step))

    def put_file(self, path: Path | str) -> str:
        """Stores the content of the file at `path`; returns its CID."""
        with open(path, "rb", buffering=0) as source:
            self._check_limit(os.fstat(source.fileno()).st_size)
            return self.put_stream(source)

    def put_stream(self, source: Iterable[Chunk] | Readable, *, named: Callable[[str], object] | None = None) -> str:
        """Stores a stream (an iterable of byte chunks, or a binary file); returns its CID.

        The stream is read once, hashed and encrypted as it goes, never held in memory. If it
        raises, or passes `max_blob_bytes` (BlobTooLarge), nothing of it is kept.

        `named(cid)`, if given, runs in a helper thread as soon as the CID is known, while the
        blob is made durable (the server records the uploader there: the record then costs no
        time of its own). The put waits for it and raises what it raised; the blob stays stored
        either way, since it is whole and correctly named.
        """
        digest = PipelinedSha256()

        def hashed_segments() -> Iterator[tuple[Chunk, bool]]:
            # Two balanced stages (~0.57 ms per MiB each here): hashing in a helper thread,
            # encrypting and writing in the caller's. A third thread for the write only added its
            # hand-overs (a 1 MB put took 1.5 ms before its commit, then 0.7).
            try:
                for segment, last in split_segments(_chunks(source, self.segment_size), self.segment_size):
                    digest.update(segment)
                    yield segment, last
            finally:
                digest.update.drain()  # a failed upload's segment may still be being hashed

        return self._seal(hashed_segments(), digest.digest, named)

    def _seal(self, segments: Iterable[tuple[Chunk, bool]], digest: Callable[[], bytes],
              named: Callable[[str], object] | None) -> str:
        """Encrypts and writes the segments, then names the blob by `digest()` and commits it."""
        sealer = Sealer(self._master, self.segment_size)
        total = 0
        with self.backend.stage() as staged:
            staged.write(bytes(HEADER_BYTES))  # a placeholder: the header binds the CID, known only at the end
            pending = iter(segments)
            try:
                for segment, last in pending:
                    total += len(segment)
                    self._check_limit(total)
                    staged.write(sealer.seal(segment, last))
                sha = digest()
            finally:
                if isinstance(pending, Generator):
                    pending.close()  # runs its cleanup now, also when this failed half-way
            return self._publish(staged, sealer, sha, named)

    @staticmethod
    def _publish(staged: StagedBlob, sealer: Sealer, sha: bytes, named: Callable[[str], object] | None) -> str:
        """Writes the header that binds the key to the CID, then commits under it; the CID."""
        cid = cid_text(sha)
        staged.rewrite_head(sealer.header(sha))
        beside = submit(named, cid) if named is not None else None
        try:
            staged.commit(cid)
        finally:
            if beside is not None:
                beside.result()
        return cid

    def _check_limit(self, size: int) -> None:
        if self.max_blob_bytes is not None and size > self.max_blob_bytes:
            raise BlobTooLarge(f"blob exceeds the store's limit of {self.max_blob_bytes} bytes")

    # -- reading -------------------------------------------------------------------------------

    def get_bytes(self, cid: str) -> bytes:
        """The whole blob, returned only once verified against `cid`. For blobs that fit in memory."""
        with self.open_stream(cid) as segments:
            return b"".join([*segments])

    def read_to(self, cid: str, dest: Path | str) -> int:
        """Writes the blob to `dest` (replacing it) only once verified; returns its size.

        On any error `dest` is left as it was. The file gets mode 0600, as the data was private
        enough to encrypt. A process killed mid-read may leave ``.<name>.*.part`` next to `dest`.
        """
        dest = Path(dest)
        with self.open_stream(cid) as segments:  # BlobNotFound before any file is made
            fd, temp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            try:
                writer = StreamingWriter(fd)
                write = Pipelined(writer.write)
                try:
                    for segment in segments:
                        write(segment)
                    write.wait()
                    os.fsync(fd)
                finally:
                    write.drain()  # never close the descriptor under a write in flight
                    os.close(fd)
                os.replace(temp, dest)
                size = writer.written
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                raise
        return size

    def open_stream(self, cid: str, *, rehash: bool = True) -> BlobStream:
        """The blob's plaintext as an iterator of segments (see the caveat in the module docstring).

        Raises BlobNotFound, CidError or a header error here; IntegrityError may also come from
        any step of the iteration, at the latest instead of the final segment. Close it (or use
        it as a context manager) if you stop early.

        `rehash=False` skips hashing the plaintext when the blob's key is bound to its CID (format
        version 2, see `crypto`): authenticating each segment is then the check against the name.
        The store server reads so, as its clients hash what they receive anyway; a version 1
        blob is hashed regardless.
        """
        name = canonical_cid(cid)
        stream = self.backend.open(name)
        try:
            opener = Opener(read_exact(stream, HEADER_BYTES), self._master, cid_digest(name), name)
        except BaseException:
            stream.close()
            raise
        return BlobStream(name, stream, opener, rehash=rehash or not opener.bound_to_cid)

    # -- bookkeeping ---------------------------------------------------------------------------

    def exists(self, cid: str) -> bool:
        return self.backend.exists(canonical_cid(cid))

    def size(self, cid: str) -> int:
        """The plaintext size, from the stored size and the header (no full read, no verification)."""
        name = canonical_cid(cid)
        with self.open_stream(name) as segments:
            segment_size = segments.segment_size
        return plaintext_size(self.backend.stored_size(name), segment_size)

    def delete(self, cid: str) -> bool:
        """Removes the blob; returns whether it was there."""
        return self.backend.delete(canonical_cid(cid))

    def list(self) -> Iterator[str]:
        """The CIDs of all stored blobs, in no particular order."""
        return self.backend.list()


def _chunks(source: Iterable[Chunk] | Readable, size: int) -> Iterable[Chunk]:
    """Chunks of a stream source. A file is read in `size` blocks, never iterated (that gives lines)."""
    if isinstance(source, Readable):
        return iter(lambda: source.read(size), b"")
    return source
