"""The at-rest format of one blob: a header, then the plaintext in AES-256-GCM sealed segments.

Why segments: a blob can be far larger than memory, and its CID (the hash of the plaintext) is
only known when the upload ends, so the store must encrypt as it reads. One GCM message over a
2 GB blob could only be authenticated after reading all of it; fixed-size segments can each be
checked before any of their bytes are released. The scheme follows the usual "online AEAD"
construction (Tink's streaming AEAD, age's STREAM):

    header   = magic "DBBL" | version (1 byte) | segment size (u32) | master key id (8 bytes)
               | nonce prefix (8 bytes) | wrapped data key (12-byte nonce + 32 + 16-byte tag,
               associated data = the header fields before it | the blob's sha-256 digest)
    segment  = AES-GCM(data key, nonce = nonce prefix | index (u32),
                       plaintext = `segment size` bytes (the last may be shorter, even empty),
                       associated data = index (u64) | last flag (1 byte))

* Each blob has its own random data key, so (key, nonce) pairs never repeat even though the
  segment counter restarts at 0 for every blob; the random prefix is defence in depth.
* The index in the associated data detects reordered or swapped segments; the last flag detects
  truncation at a segment boundary (the new final segment was sealed with last = 0) and
  appended segments (the old final one was sealed with last = 1).
* The wrapped key's associated data is the header before it, so a changed segment size, key id
  or nonce prefix fails there, before any segment is read.
* Version 2 also binds the key to the blob's CID (its digest is in that associated data), which
  makes authentication a check against the name: the store wraps the key only after hashing the
  plaintext to that CID, so a blob that opens under a name was hashed to that name when it was
  stored, and another blob's file copied under this name fails at the header. That is why a
  reader need not hash what it decrypts (the server does not: see `BlobStore.open_stream`).
  The header is therefore written last, over a placeholder, once the CID is known. Version 1
  (no binding) stays readable; its readers always hash.

Every non-final segment holds exactly `segment size` plaintext bytes, and the final one holds
1..size bytes (0 only for the empty blob), so the plaintext size follows from the stored size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Generator, Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from databright.store.errors import BlobTooLarge, IntegrityError, StoreError
from databright.store.lib.fsutil import read_exact
from databright.store.lib.keys import KEY_BYTES, WRAPPED_BYTES, MasterKey

MAGIC = b"DBBL"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: the key is not bound to the CID, so its blobs are always rehashed
TAG_BYTES = 16
NONCE_PREFIX_BYTES = 8
DEFAULT_SEGMENT_SIZE = 1 << 20
MAX_SEGMENT_SIZE = 64 << 20  # bounds what one read may allocate, even for a forged header
MAX_SEGMENTS = 1 << 32  # the nonce counter is 4 bytes

_PREFIX = struct.Struct(">4sBI8s8s")  # magic, version, segment size, key id, nonce prefix
_AAD = struct.Struct(">QB")  # segment index, last flag
HEADER_BYTES = _PREFIX.size + WRAPPED_BYTES

Chunk = bytes | bytearray | memoryview


def check_segment_size(size: int) -> int:
    if not 1 <= size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment size must be within 1..{MAX_SEGMENT_SIZE}, got {size}")
    return size


class Sealer:
    """Encrypts one blob's segments in order; its header, known once the CID is, goes first."""

    def __init__(self, master: MasterKey, segment_size: int = DEFAULT_SEGMENT_SIZE, *, version: int = VERSION) -> None:
        if version not in READABLE_VERSIONS:
            raise ValueError(f"unknown format version {version}")
        self.segment_size = check_segment_size(segment_size)
        self._data_key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
        self._aead = AESGCM(self._data_key)
        self._prefix = os.urandom(NONCE_PREFIX_BYTES)
        self._master = master
        self._fields = _PREFIX.pack(MAGIC, version, segment_size, master.key_id, self._prefix)
        self._index = 0
        self._finished = False

    def header(self, digest: bytes) -> bytes:
        """The header of the blob whose plaintext has this sha-256 `digest` (HEADER_BYTES long)."""
        return self._fields + self._master.wrap(self._data_key, aad=_key_aad(self._fields, digest))

    def seal(self, plaintext: Chunk, last: bool) -> bytes:
        """The stored form of the next segment."""
        if self._finished:
            raise RuntimeError("the final segment was already sealed")
        if len(plaintext) > self.segment_size or (not last and len(plaintext) != self.segment_size):
            raise ValueError("only the final segment may be shorter than the segment size")
        if self._index >= MAX_SEGMENTS:
            raise BlobTooLarge(f"a blob may have at most {MAX_SEGMENTS} segments")
        nonce = self._prefix + self._index.to_bytes(4, "big")
        sealed = self._aead.encrypt(nonce, plaintext, _AAD.pack(self._index, last))
        self._index += 1
        self._finished = last
        return sealed

def _key_aad(fields: bytes, digest: bytes) -> bytes:
    """What the wrapped key is bound to: the header fields, and from version 2 the CID's digest."""
    if len(digest) != 32:
        raise ValueError("a sha-256 digest is 32 bytes")
    return fields if fields[4] == 1 else fields + digest


class Opener:
    """Decrypts one blob's segments in order, after checking its header."""

    def __init__(self, header: bytes, master: MasterKey, digest: bytes, name: str = "blob") -> None:
        """`digest`: the sha-256 the blob is stored under (from its CID), which a version 2 key is bound to."""
        if len(header) != HEADER_BYTES:
            raise IntegrityError(f"{name}: truncated header ({len(header)} of {HEADER_BYTES} bytes)")
        fields = header[: _PREFIX.size]
        magic, version, segment_size, key_id, prefix = _PREFIX.unpack(fields)
        if magic != MAGIC:
            raise IntegrityError(f"{name}: not a DataBright blob (bad magic {magic!r})")
        if version not in READABLE_VERSIONS:
            raise IntegrityError(f"{name}: unknown format version {version} (this build reads "
                                 f"{', '.join(map(str, READABLE_VERSIONS))})")
        if key_id != master.key_id:
            # A plain StoreError, not IntegrityError: the usual cause is the wrong key file,
            # and the remedy (restore the right one) is nothing like that for tampering.
            raise StoreError(
                f"{name} was encrypted under another master key (id {key_id.hex()}; "
                f"this store's key is {master.key_id.hex()})"
            )
        if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise IntegrityError(f"{name}: implausible segment size {segment_size}")
        self.name = name
        self.segment_size: int = segment_size
        # Whether authenticating every segment also proves the plaintext matches `digest`.
        self.bound_to_cid = version >= 2
        try:
            data_key = master.unwrap(header[_PREFIX.size :], aad=_key_aad(fields, digest))
        except IntegrityError as exc:
            where = ", or the file of another blob is stored under this name" if self.bound_to_cid else ""
            raise IntegrityError(f"{name}: {exc}{where}") from exc
        self._aead = AESGCM(data_key)
        self._prefix: bytes = prefix
        self._index = 0
        self._finished = False

    def open(self, sealed: bytes, last: bool) -> bytes:
        """The plaintext of the next segment, or IntegrityError; never unauthenticated bytes."""
        if self._finished:
            raise IntegrityError(f"{self.name}: data after the final segment")
        if len(sealed) < TAG_BYTES or self._index >= MAX_SEGMENTS:
            raise IntegrityError(f"{self.name}: truncated segment {self._index}")
        nonce = self._prefix + self._index.to_bytes(4, "big")
        try:
            plaintext = self._aead.decrypt(nonce, sealed, _AAD.pack(self._index, last))
        except InvalidTag as exc:
            where = "final " if last else ""
            raise IntegrityError(
                f"{self.name}: {where}segment {self._index} failed authentication "
                "(changed, reordered or truncated data)"
            ) from exc
        self._index += 1
        self._finished = last
        return plaintext

    def read_segments(self, stream: BinaryIO) -> Generator[tuple[bytes, bool]]:
        """(plaintext, is_last) for each segment of `stream` (positioned after the header).

        Reads one sealed segment ahead, because whether a segment is the final one is known
        only from the stream ending after it.
        """
        sealed_size = self.segment_size + TAG_BYTES
        current = read_exact(stream, sealed_size)
        if not current:
            raise IntegrityError(f"{self.name}: truncated (no segments after the header)")
        while True:
            following = read_exact(stream, sealed_size)
            last = not following
            yield self.open(current, last), last
            if last:
                return
            current = following


def plaintext_size(stored_size: int, segment_size: int) -> int:
    """The plaintext size implied by a stored blob's size (see the module docstring)."""
    body = stored_size - HEADER_BYTES
    if body < TAG_BYTES:
        raise IntegrityError(f"stored blob too short ({stored_size} bytes)")
    segments = -(-body // (segment_size + TAG_BYTES))
    return body - segments * TAG_BYTES


def split_segments(chunks: Iterable[Chunk], size: int) -> Iterator[tuple[Chunk, bool]]:
    """Regroups arbitrary chunks into (segment, is_last) pairs of exactly `size` bytes.

    A full segment is held back until more data arrives, since only then is it known not to be
    the last. An empty input gives one empty final segment (the empty blob).

    Bytes are copied only where a segment spans several chunks (once, by one join). A segment
    that lies inside one immutable `bytes` chunk is yielded as a memoryview of it: the store
    server hands over multi-segment blocks, and cutting them into copies was one more memmove of
    every uploaded byte (memmove was 18% of the server's perf samples during an upload), and a
    1 MB blob sent in one piece costs no copy at all (fresh megabytes are slow here: the pages of
    each one are faulted in, ~0.4 ms per MiB). Mutable input (a bytearray the caller may reuse)
    is copied as it comes, so a yielded segment never changes under the hash or the cipher.
    """
    pieces: list[Chunk] = []  # the segment being gathered, as immutable views
    held = 0
    pending: Chunk | None = None
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        immutable = isinstance(chunk, bytes) or (isinstance(chunk, memoryview) and isinstance(chunk.obj, bytes))
        pos = 0
        while pos < len(view):
            if pending is not None:
                yield pending, False
                pending = None
            take = min(size - held, len(view) - pos)
            if not immutable:
                pieces.append(bytes(view[pos : pos + take]))
            else:  # the whole chunk itself rather than a view of it, where it is all taken
                pieces.append(chunk if take == len(view) else view[pos : pos + take])
            held += take
            pos += take
            if held == size:
                pending = _joined(pieces)
                pieces, held = [], 0
    if pending is not None:
        yield pending, True
    else:
        yield _joined(pieces), True


def _joined(pieces: list[Chunk]) -> Chunk:
    """One buffer of the pieces: the piece itself when there is only one (no copy)."""
    if len(pieces) == 1:
        return pieces[0]
    return b"".join(pieces)
