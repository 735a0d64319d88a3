"""One behavioural suite for `BlobStore`, run against every backend (Flower-style).

`BlobStoreContract` is abstract (its name does not start with ``Test``, so pytest does not run
it on its own); each backend gets a subclass at the bottom that only says how to build one.
Everything here goes through the public interfaces, tampering included (read the stored bytes,
delete, put the altered bytes back), so a new backend passes by honouring the contract alone.
"""

from __future__ import annotations

import io
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from multiformats import CID
from seaweed import BUCKET

from databright.cid import cid_for_bytes
from databright.errors import CidError
from databright.store import (
    BlobBackend,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    IntegrityError,
    LocalBackend,
    MemoryBackend,
    StoreError,
)
from databright.store.lib.backend import cid_digest
from databright.store.lib.crypto import HEADER_BYTES, TAG_BYTES, Sealer, split_segments
from databright.store.lib.keys import WRAPPED_BYTES, load_or_create
from databright.store.lib.s3 import S3Backend

MIB = 1 << 20
SEG = 1024  # small segments make multi-segment tampering cases cheap
SEALED = SEG + TAG_BYTES
UNKNOWN = cid_for_bytes(b"never stored")
CIDV0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
KEY_START = HEADER_BYTES - WRAPPED_BYTES


def rewrite(backend: BlobBackend, cid: str, change: Callable[[bytes], bytes]) -> None:
    """Replaces a stored blob's bytes, as an attacker with write access to the storage could."""
    with backend.open(cid) as stream:
        data = stream.read()
    assert backend.delete(cid)
    backend.put(cid, [change(data)])


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def segment(data: bytes, i: int) -> bytes:
    return data[HEADER_BYTES + i * SEALED : HEADER_BYTES + (i + 1) * SEALED]


TAMPERINGS: dict[str, Callable[[bytes], bytes]] = {
    "flip first ciphertext byte": lambda d: flip(d, HEADER_BYTES),
    "flip a middle byte": lambda d: flip(d, HEADER_BYTES + SEALED + 100),
    "flip last tag byte": lambda d: flip(d, len(d) - 1),
    "truncate a few bytes": lambda d: d[:-5],
    "truncate at a segment boundary": lambda d: d[: HEADER_BYTES + 2 * SEALED],
    "truncate to the header": lambda d: d[:HEADER_BYTES],
    "truncate into the header": lambda d: d[: HEADER_BYTES - 7],
    "empty file": lambda d: b"",
    "swap segments 0 and 1": lambda d: d[:HEADER_BYTES] + segment(d, 1) + segment(d, 0) + d[-(SEALED + 100) :],
    "drop a middle segment": lambda d: d[: HEADER_BYTES + SEALED] + d[HEADER_BYTES + 2 * SEALED :],
    "append a copy of the last segment": lambda d: d + d[HEADER_BYTES + 3 * SEALED :],
    "append garbage": lambda d: d + b"\0" * 40,
    "replace the wrapped key": lambda d: d[:KEY_START] + os.urandom(WRAPPED_BYTES) + d[HEADER_BYTES:],
    "flip a wrapped key byte": lambda d: flip(d, HEADER_BYTES - 20),
    "flip the segment size": lambda d: flip(d, 7),
    "flip the nonce prefix": lambda d: flip(d, 18),
    "flip the magic": lambda d: flip(d, 0),
    "flip the version": lambda d: flip(d, 4),
}


class BlobStoreContract(ABC):
    """What every backend must give `BlobStore`. Subclasses implement `make_backend`."""

    @abstractmethod
    def make_backend(self, tmp_path: Path) -> BlobBackend: ...

    @pytest.fixture
    def store(self, tmp_path: Path) -> BlobStore:
        return BlobStore(tmp_path / "store", backend=self.make_backend(tmp_path))

    @pytest.fixture
    def small_segments(self, store: BlobStore) -> BlobStore:
        return BlobStore(store.root, backend=store.backend, segment_size=SEG)

    # -- round trips ---------------------------------------------------------------------------

    @pytest.mark.parametrize("size", [0, 1, 100, MIB - 1, MIB, MIB + 1, 3 * MIB + 5])
    def test_round_trip(self, store: BlobStore, tmp_path: Path, size: int) -> None:
        data = os.urandom(size)
        cid = store.put_bytes(data)
        assert cid == cid_for_bytes(data)
        assert store.exists(cid)
        assert store.size(cid) == size
        assert store.get_bytes(cid) == data
        assert b"".join(store.open_stream(cid)) == data
        assert store.read_to(cid, tmp_path / "out") == size
        assert (tmp_path / "out").read_bytes() == data
        assert [*store.list()] == [cid]

    def test_a_blob_of_several_upload_parts(self, store: BlobStore) -> None:
        """11 MiB: two full 5 MiB parts and a tail where a backend uploads in parts (S3)."""
        data = os.urandom(11 * MIB + 7)
        cid = store.put_bytes(data)
        assert cid == cid_for_bytes(data) and store.size(cid) == len(data)
        assert store.get_bytes(cid) == data
        assert [*store.list()] == [cid]

    def test_many_segments_and_odd_chunks(self, small_segments: BlobStore) -> None:
        data = os.urandom(50 * SEG + 3)
        chunks = [data[i : i + 777] for i in range(0, len(data), 777)]
        cid = small_segments.put_stream([b"", *chunks, b""])
        assert cid == cid_for_bytes(data)
        assert small_segments.size(cid) == len(data)
        assert small_segments.get_bytes(cid) == data
        assert all(len(s) == SEG for s in [*small_segments.open_stream(cid)][:-1])

    def test_every_source_kind_gives_the_same_cid(self, store: BlobStore, tmp_path: Path) -> None:
        data = os.urandom(MIB + 17)
        path = tmp_path / "source.bin"
        path.write_bytes(data)
        cids = {
            store.put_bytes(data),
            store.put_bytes(bytearray(data)),
            store.put_stream(io.BytesIO(data)),
            store.put_stream(iter([data[:5], memoryview(data)[5:]])),
            store.put_file(path),
            store.put_file(str(path)),
        }
        assert cids == {cid_for_bytes(data)}
        assert [*store.list()] == [cid_for_bytes(data)]

    def test_file_sources_are_read_as_bytes_not_lines(self, store: BlobStore) -> None:
        data = b"line one\nline two\n" * 1000
        assert store.get_bytes(store.put_stream(io.BytesIO(data))) == data

    def test_any_cid_spelling_names_the_same_blob(self, store: BlobStore) -> None:
        cid = store.put_bytes(b"spelling")
        other = CID.decode(cid).encode("base58btc")
        assert other != cid
        assert store.exists(other)
        assert store.get_bytes(other) == b"spelling"

    def test_delete(self, store: BlobStore) -> None:
        cid = store.put_bytes(b"short-lived")
        assert store.delete(cid)
        assert not store.delete(cid)
        assert not store.exists(cid)
        assert [*store.list()] == []
        with pytest.raises(BlobNotFound):
            store.get_bytes(cid)

    # -- errors --------------------------------------------------------------------------------

    def test_unknown_cid(self, store: BlobStore, tmp_path: Path) -> None:
        assert not store.exists(UNKNOWN)
        for call in (store.get_bytes, store.open_stream, store.size, lambda c: store.read_to(c, tmp_path / "out")):
            with pytest.raises(BlobNotFound):
                call(UNKNOWN)
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize("text", ["", "hello", "../../etc/passwd", CIDV0, cid_for_bytes(b"x").upper() + "!"])
    def test_invalid_cid(self, store: BlobStore, tmp_path: Path, text: str) -> None:
        calls = (
            store.get_bytes,
            store.open_stream,
            store.size,
            store.exists,
            store.delete,
            lambda c: store.read_to(c, tmp_path / "out"),
        )
        for call in calls:
            with pytest.raises(CidError):
                call(text)

    def test_too_large(self, store: BlobStore, tmp_path: Path) -> None:
        limited = BlobStore(store.root, backend=store.backend, max_blob_bytes=3 * SEG, segment_size=SEG)
        path = tmp_path / "big"
        path.write_bytes(b"x" * (3 * SEG + 1))
        with pytest.raises(BlobTooLarge):
            limited.put_bytes(b"x" * (3 * SEG + 1))
        with pytest.raises(BlobTooLarge):
            limited.put_file(path)
        with pytest.raises(BlobTooLarge):
            limited.put_stream(b"y" * 100 for _ in range(10_000))
        assert [*store.list()] == []
        assert limited.get_bytes(limited.put_bytes(b"x" * 3 * SEG)) == b"x" * 3 * SEG

    def test_failing_source_leaves_nothing(self, store: BlobStore) -> None:
        def source() -> Iterator[bytes]:
            yield b"a" * MIB * 2
            raise OSError("the network went away")

        with pytest.raises(OSError, match="network"):
            store.put_stream(source())
        assert [*store.list()] == []

    def test_different_master_key(self, store: BlobStore, tmp_path: Path) -> None:
        cid = store.put_bytes(b"for the first key only")
        other = BlobStore(tmp_path / "other-root", backend=store.backend)
        with pytest.raises(StoreError, match="another master key"):
            other.get_bytes(cid)
        with pytest.raises(StoreError):
            other.read_to(cid, tmp_path / "out")
        assert not (tmp_path / "out").exists()

    def test_named_runs_with_the_cid_before_put_returns(self, store: BlobStore) -> None:
        seen: list[str] = []
        cid = store.put_stream([b"named ", b"blob"], named=seen.append)
        assert seen == [cid] == [cid_for_bytes(b"named blob")]

        def refuse(cid: str) -> None:
            raise RuntimeError(f"could not record {cid}")

        with pytest.raises(RuntimeError, match="could not record"):
            store.put_stream([b"stored anyway"], named=refuse)
        assert store.get_bytes(cid_for_bytes(b"stored anyway")) == b"stored anyway"  # whole and rightly named

    @pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, 3 * MIB + 12345])
    def test_pieces_cut_anywhere_store_the_same_blob(self, store: BlobStore, size: int) -> None:
        """The server's upload path: the pieces the network cut, chained from blocks of any length."""
        data = os.urandom(size)
        pieces = [data[i : i + 100_000] for i in range(0, size, 100_000)]
        seen: list[str] = []
        cid = store.put_stream([*pieces, b""], named=seen.append)
        assert cid == cid_for_bytes(data) and seen == [cid] and store.get_bytes(cid) == data

    def test_prefetch_is_only_a_hint(self, store: BlobStore) -> None:
        cid = store.put_bytes(b"soon read")
        store.backend.prefetch(cid)
        store.backend.prefetch(cid_for_bytes(b"not stored"))  # nothing to fetch: no error either
        assert store.get_bytes(cid) == b"soon read"

    # -- tampering -----------------------------------------------------------------------------

    @pytest.mark.parametrize("how", TAMPERINGS)
    def test_tampering_is_detected(self, small_segments: BlobStore, tmp_path: Path, how: str) -> None:
        store = small_segments
        data = os.urandom(3 * SEG + 100)  # four segments, the last one partial
        cid = store.put_bytes(data)
        rewrite(store.backend, cid, TAMPERINGS[how])
        with pytest.raises(IntegrityError):
            store.get_bytes(cid)
        for rehash in (True, False):  # the server reads unhashed: authentication alone must catch it
            with pytest.raises(IntegrityError):
                [*store.open_stream(cid, rehash=rehash)]
        dest = tmp_path / "out"
        with pytest.raises(IntegrityError):
            store.read_to(cid, dest)
        assert [*tmp_path.iterdir()] == [store.root]  # neither dest nor a temp file
        dest.write_bytes(b"previous content")
        with pytest.raises(IntegrityError):
            store.read_to(cid, dest)
        assert dest.read_bytes() == b"previous content"

    def test_changed_key_id_is_reported_as_a_key_problem(self, store: BlobStore) -> None:
        cid = store.put_bytes(b"key id")
        rewrite(store.backend, cid, lambda d: flip(d, 10))
        with pytest.raises(StoreError, match="another master key"):
            store.get_bytes(cid)

    def test_another_blob_under_this_name(self, small_segments: BlobStore) -> None:
        """Valid ciphertext of other content passes every segment's GCM check, but its key is bound
        to the other CID: the header refuses it before any segment is released, also unhashed."""
        store = small_segments
        good, evil = os.urandom(3 * SEG), os.urandom(3 * SEG)
        cid, evil_cid = store.put_bytes(good), store.put_bytes(evil)
        with store.backend.open(evil_cid) as stream:
            evil_stored = stream.read()
        rewrite(store.backend, cid, lambda _: evil_stored)
        for rehash in (True, False):
            with pytest.raises(IntegrityError, match="another blob is stored under this name"):
                store.open_stream(cid, rehash=rehash)
        with pytest.raises(IntegrityError, match="another blob is stored under this name"):
            store.get_bytes(cid)

    def test_a_version_1_blob_is_read_and_always_hashed(self, small_segments: BlobStore) -> None:
        """Version 1 (no CID binding) stays readable; another such blob under a name is caught by
        the hash, and its final segment withheld, even when the reader asked not to hash."""
        store = small_segments
        good, evil = os.urandom(3 * SEG), os.urandom(3 * SEG)
        cid, evil_cid = cid_for_bytes(good), cid_for_bytes(evil)
        for name, data in ((cid, good), (evil_cid, evil)):
            sealer = Sealer(load_or_create(store.root), SEG, version=1)  # as an earlier build wrote it
            body = [sealer.seal(p, last) for p, last in split_segments([data], SEG)]
            store.backend.put(name, [sealer.header(cid_digest(name)), *body])
        assert store.get_bytes(cid) == good
        assert b"".join(store.open_stream(cid, rehash=False)) == good
        with store.backend.open(evil_cid) as stream:
            evil_stored = stream.read()
        rewrite(store.backend, cid, lambda _: evil_stored)
        seen: list[bytes] = []
        with pytest.raises(IntegrityError, match="does not match its CID"):
            seen.extend(store.open_stream(cid, rehash=False))
        assert seen == [evil[:SEG], evil[SEG : 2 * SEG]]  # the final segment is withheld

    # -- atomicity and deduplication -----------------------------------------------------------

    def test_staged_upload_is_invisible_until_commit(self, store: BlobStore) -> None:
        backend = store.backend
        cid = cid_for_bytes(b"staged")
        with backend.stage() as staged:
            staged.write(b"cipher")
            staged.write(memoryview(b"text"))
            assert not backend.exists(cid)
            assert [*backend.list()] == []
            assert staged.commit(cid)
        assert backend.exists(cid)
        assert backend.stored_size(cid) == 10
        with backend.open(cid) as stream:
            assert stream.read() == b"ciphertext"

    def test_rewrite_head_replaces_only_written_bytes(self, store: BlobStore) -> None:
        backend = store.backend
        cid = cid_for_bytes(b"head")
        with backend.stage() as staged:
            staged.write(b"....cipher")
            with pytest.raises(ValueError, match="already written"):
                staged.rewrite_head(b"x" * 11)
            staged.rewrite_head(b"HEAD")
            assert staged.commit(cid)
            with pytest.raises(StoreError, match="after commit"):
                staged.rewrite_head(b"late")
        with backend.open(cid) as stream:
            assert stream.read() == b"HEADcipher"

    def test_aborted_upload_leaves_nothing(self, store: BlobStore) -> None:
        with store.backend.stage() as staged:
            staged.write(b"abandoned")
        staged.abort()  # idempotent
        assert [*store.backend.list()] == []

    def test_backend_put_keeps_the_first_copy(self, store: BlobStore) -> None:
        cid = cid_for_bytes(b"x")
        assert store.backend.put(cid, [b"first"])
        assert not store.backend.put(cid, [b"second"])
        with store.backend.open(cid) as stream:
            assert stream.read() == b"first"
        with pytest.raises(BlobNotFound):
            store.backend.stored_size(UNKNOWN)

    def test_same_content_twice_is_stored_once(self, store: BlobStore) -> None:
        data = os.urandom(2 * MIB)
        assert store.put_bytes(data) == store.put_bytes(data)
        assert [*store.list()] == [cid_for_bytes(data)]

    def test_concurrent_identical_uploads_from_threads(self, store: BlobStore) -> None:
        data = os.urandom(3 * MIB + 11)
        barrier = threading.Barrier(8)

        def upload(_: int) -> str:
            barrier.wait()
            return store.put_stream(data[i : i + 64 * 1024] for i in range(0, len(data), 64 * 1024))

        with ThreadPoolExecutor(8) as pool:
            cids = set(pool.map(upload, range(8)))
        assert cids == {cid_for_bytes(data)}
        assert [*store.list()] == [cid_for_bytes(data)]
        assert store.get_bytes(cid_for_bytes(data)) == data


class TestLocalBackend(BlobStoreContract):
    def make_backend(self, tmp_path: Path) -> BlobBackend:
        return LocalBackend(tmp_path / "store" / "blobs")


class TestMemoryBackend(BlobStoreContract):
    def make_backend(self, tmp_path: Path) -> BlobBackend:
        return MemoryBackend()


class TestS3Backend(BlobStoreContract):
    """Against a real S3 server (SeaweedFS, one per test worker); each test has its own key prefix."""

    @pytest.fixture(autouse=True)
    def _server(self, seaweed: Any) -> None:
        self.seaweed = seaweed

    def make_backend(self, tmp_path: Path) -> BlobBackend:
        return S3Backend(self.seaweed.client(), BUCKET, self.seaweed.prefix(), part_size=5 * MIB)
