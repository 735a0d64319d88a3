"""Where sealed blobs live: the interface every storage backend implements.

Backends only ever see ciphertext and CIDs. Encryption, hashing and verification stay in
`BlobStore`, so a backend can be a local folder, an object store or a dict without any of
them being trusted with data or with integrity.

The one hard requirement is atomic publication. An upload's CID is the hash of its plaintext
and is known only once the last byte has been read, so a backend cannot be told the name up
front: `stage()` opens an invisible upload, the store streams ciphertext into it, and
`commit(cid)` publishes it under its name in one step. Until then no reader, `exists` or `list`
may see it, and an upload that is aborted or whose process dies leaves nothing visible.
Publishing content that is already present is not an error: blobs are immutable and named by
their content, so the existing copy is as good as the new one.
"""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import BinaryIO, Self

from databright.cid import cid_from_digest, digest_from_cid

Chunk = bytes | bytearray | memoryview


# Every DataBright CID is CIDv1 (0x01), raw (0x55), sha2-256 (0x12) of 32 bytes (0x20), so its
# canonical base32 text is "b" + base32(these 4 bytes + digest), lower case, unpadded: 59 chars.
_CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])
_CANONICAL_LENGTH = 59


def canonical_cid(text: str) -> str:
    """The one spelling of a CID that backends use as a name (base32, CIDv1, raw, sha2-256).

    Accepting any multibase spelling but storing one means the same content never ends up under
    two names, and since the name is rebuilt from the digest, a "CID" such as ``../x`` can never
    become a path. Raises CidError for anything that is not a DataBright CID.
    """
    return cid_text(cid_digest(text))


def cid_digest(text: str) -> bytes:
    """The sha2-256 digest named by a CID; `databright.cid.digest_from_cid` with a fast path.

    The fast path exists because the multiformats library validates its arguments at run time
    and takes ~0.3 ms per decode, which is most of the cost of reading a small blob. It accepts
    only the canonical spelling; everything else goes to the reference implementation.
    """
    if len(text) == _CANONICAL_LENGTH and text.startswith("bafkrei"):
        try:
            raw = base64.b32decode(text[1:].upper() + "======")
        except (ValueError, binascii.Error):
            raw = b""
        if raw[:4] == _CID_PREFIX and cid_text(raw[4:]) == text:
            return raw[4:]
    return digest_from_cid(text)


def cid_text(digest: bytes) -> str:
    """The canonical CID of a sha2-256 digest; `databright.cid.cid_from_digest` without the library."""
    if len(digest) != 32 or digest == bytes(32):
        return cid_from_digest(digest)  # raises the reference CidError
    return "b" + base64.b32encode(_CID_PREFIX + digest).decode("ascii").rstrip("=").lower()


class StagedBlob(ABC):
    """An upload in progress: written piece by piece, invisible until `commit`.

    Use it as a context manager: leaving the block without a commit aborts the upload. Calls
    never overlap, but `write` may be called from a helper thread (the store writes segment i
    while it encrypts segment i+1), so an implementation must not rely on thread-local state.
    """

    @abstractmethod
    def write(self, data: Chunk) -> None:
        """Appends ciphertext."""

    @abstractmethod
    def rewrite_head(self, data: Chunk) -> None:
        """Replaces the first ``len(data)`` bytes already written (the blob header, known last)."""

    @abstractmethod
    def commit(self, cid: str) -> bool:
        """Makes everything written visible under `cid` at once.

        Returns False when a blob with that CID was already stored, in which case the upload is
        discarded and the stored copy kept (racing identical uploads may both return True; one
        copy remains either way).
        """

    @abstractmethod
    def abort(self) -> None:
        """Discards the upload. Idempotent, and a no-op after a commit."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()


class BlobBackend(ABC):
    """Storage for sealed blobs, keyed by canonical CID text (see `canonical_cid`)."""

    @abstractmethod
    def stage(self) -> StagedBlob:
        """Starts an upload whose name is given only at commit time."""

    def put(self, cid: str, chunks: Iterable[Chunk]) -> bool:
        """Stores a stream of ciphertext chunks under `cid` atomically (see `StagedBlob.commit`)."""
        with self.stage() as staged:
            for chunk in chunks:
                staged.write(chunk)
            return staged.commit(cid)

    def prefetch(self, cid: str) -> None:
        """A hint that `cid` is about to be read (a backend may start fetching it); never raises."""
        return None  # by default there is nothing to start

    @abstractmethod
    def open(self, cid: str) -> BinaryIO:
        """A readable stream of the stored bytes; raises BlobNotFound. The caller closes it."""

    @abstractmethod
    def exists(self, cid: str) -> bool:
        """Whether a committed blob is stored under `cid`."""

    @abstractmethod
    def stored_size(self, cid: str) -> int:
        """The stored (ciphertext) size in bytes; raises BlobNotFound."""

    @abstractmethod
    def delete(self, cid: str) -> bool:
        """Removes the blob; returns whether it was there. Readers that already opened it may finish."""

    @abstractmethod
    def list(self) -> Iterator[str]:
        """The CIDs of all committed blobs, in no particular order."""
