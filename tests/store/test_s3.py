"""What only the S3 backend has to show: dead uploads cleaned up, ciphertext only, ranged reads.

The behaviour every backend shares is in test_contract.py (`TestS3Backend`); these run against
the same real SeaweedFS server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from seaweed import BUCKET, SeaweedS3

from databright.cid import cid_for_bytes
from databright.store import BlobStore, StoreError
from databright.store.lib.crypto import HEADER_BYTES, MAGIC
from databright.store.lib.s3 import STAGING, S3Backend, parse_url

MIB = 1 << 20
CHILD = Path(__file__).with_name("_child.py")


@pytest.fixture
def backend(seaweed: SeaweedS3) -> S3Backend:
    return S3Backend(seaweed.client(), BUCKET, seaweed.prefix(), part_size=5 * MIB, read_window=MIB)


@pytest.fixture
def store(backend: S3Backend, tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "keys", backend=backend)


def objects(backend: S3Backend) -> list[str]:
    """Every key under the backend's prefix, staging included."""
    answer = backend.client.list_objects_v2(Bucket=BUCKET, Prefix=backend.prefix)
    return sorted(str(o["Key"])[len(backend.prefix):] for o in answer.get("Contents", []))


def test_objects_are_the_sealed_blobs_under_their_cids(store: BlobStore, backend: S3Backend) -> None:
    data = b"plaintext that must never reach the object store " * 1000
    cid = store.put_bytes(data)
    assert objects(backend) == [cid]
    stored = backend.client.get_object(Bucket=BUCKET, Key=backend.prefix + cid)["Body"].read()
    assert stored[:4] == MAGIC  # the sealed-blob format, as a local blob file holds it
    assert b"plaintext that must never" not in stored
    assert len(stored) == backend.stored_size(cid) > HEADER_BYTES + len(data)


@pytest.mark.parametrize("size", [5 * MIB - 600, 5 * MIB, 7 * MIB, 10 * MIB - 600, 10 * MIB, 16 * MIB + 1])
def test_sizes_around_the_part_size(store: BlobStore, backend: S3Backend, size: int) -> None:
    """One PUT below two parts (first part + a partial one), a multipart upload from two parts on."""
    data = os.urandom(size)
    cid = store.put_bytes(data)
    assert store.get_bytes(cid) == data
    assert objects(backend) == [cid] and backend.pending_uploads() == []


def test_a_large_upload_leaves_no_staging_object_nor_multipart_upload(store: BlobStore, backend: S3Backend) -> None:
    data = os.urandom(12 * MIB)
    cid = store.put_bytes(data)
    assert objects(backend) == [cid]
    assert backend.pending_uploads() == []
    assert store.get_bytes(cid) == data  # read back in 1 MiB ranged GETs


def test_an_aborted_multipart_upload_is_aborted_in_the_object_store(backend: S3Backend) -> None:
    with backend.stage() as staged:
        for _ in range(3):
            staged.write(os.urandom(5 * MIB))  # part 2 goes out (part 1 waits for its header)
        assert len(backend.pending_uploads()) == 1
        assert objects(backend) == []
    assert backend.pending_uploads() == []
    assert objects(backend) == [] and [*backend.list()] == []


def test_a_killed_upload_shows_nothing_and_its_multipart_upload_is_swept(seaweed: SeaweedS3, backend: S3Backend,
                                                                        tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/{backend.prefix}"
    proc = subprocess.Popen([sys.executable, str(CHILD), "slow", str(tmp_path / "keys"), url, seaweed.endpoint],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 30
        while not backend.pending_uploads():
            assert proc.poll() is None and time.monotonic() < deadline, "the child never started a multipart upload"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [*backend.list()] == []
    assert backend.sweep() == 0  # younger than the default age: it could be a live upload
    assert len(backend.pending_uploads()) == 1
    assert backend.sweep(older_than=0) == 1
    assert backend.pending_uploads() == [] and objects(backend) == []


def test_a_stale_staging_object_is_swept_and_never_listed(backend: S3Backend, store: BlobStore) -> None:
    cid = store.put_bytes(b"kept")
    backend.client.put_object(Bucket=BUCKET, Key=f"{backend.prefix}{STAGING}leftover", Body=b"x" * 100)
    assert [*backend.list()] == [cid]
    assert backend.sweep() == 0
    assert backend.sweep(older_than=0) == 1
    assert objects(backend) == [cid]


def test_a_blob_replaced_during_a_read_fails_the_read(store: BlobStore, backend: S3Backend) -> None:
    data = os.urandom(3 * MIB)
    cid = store.put_bytes(data)
    stream = backend.open(cid)
    first = stream.read(MIB)
    backend.client.put_object(Bucket=BUCKET, Key=backend.key(cid), Body=b"y" * backend.stored_size(cid))
    with pytest.raises(StoreError, match="object store read"):
        stream.read(MIB)
    assert len(first) == MIB


@pytest.mark.parametrize(("url", "parsed"), [("s3://b", ("b", "")), ("s3://b/", ("b", "")),
                                             ("s3://b/x/y", ("b", "x/y/")), ("s3://b/x/", ("b", "x/"))])
def test_parse_url(url: str, parsed: tuple[str, str]) -> None:
    assert parse_url(url) == parsed


@pytest.mark.parametrize("url", ["b", "file:///x", "s3://", "http://b"])
def test_parse_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(StoreError, match="not an S3 URL"):
        parse_url(url)


def test_a_missing_bucket_or_wrong_keys_are_one_clear_error(seaweed: SeaweedS3, monkeypatch: Any) -> None:
    with pytest.raises(StoreError, match="cannot use bucket 'no-such-bucket'"):
        S3Backend.from_url("s3://no-such-bucket", seaweed.endpoint)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StoreError, match=f"cannot use bucket '{BUCKET}'"):
        S3Backend.from_url(f"s3://{BUCKET}", seaweed.endpoint)


def test_from_url_keeps_the_prefix(seaweed: SeaweedS3, tmp_path: Path) -> None:
    prefix = seaweed.prefix()
    store = BlobStore(tmp_path / "keys", backend=S3Backend.from_url(f"s3://{BUCKET}/{prefix}", seaweed.endpoint))
    cid = store.put_bytes(b"under a prefix")
    assert cid == cid_for_bytes(b"under a prefix")
    assert seaweed.client().head_object(Bucket=BUCKET, Key=prefix + cid)["ContentLength"] > 0


def test_uploaders_are_recorded_in_the_bucket(backend: S3Backend, store: BlobStore) -> None:
    from databright.store.server.uploads import ObjectUploadIndex, upload_index

    index = upload_index(store)
    assert isinstance(index, ObjectUploadIndex)
    first, second = "0x" + "ab" * 20, "0x" + "cd" * 20
    cid = store.put_bytes(b"uploaded twice")
    index.record(cid, first)
    time.sleep(0.01)
    index.record(cid, second)
    index.record(cid, first.upper().replace("0X", "0x"))  # another spelling of the first: kept once
    assert len(index.uploaders(cid)) == 2
    assert [a.lower() for a in index.uploaders(cid)] == [first, second]
    assert index.is_uploader(cid, second.upper().replace("0X", "0x")) and not index.is_uploader(cid, "0x" + "11" * 20)
    assert [*backend.list()] == [cid]  # the records are not blobs
    other = BlobStore(store.root, backend=S3Backend(backend.client, BUCKET, backend.prefix))
    assert upload_index(other).is_uploader(cid, first)  # any server on the bucket sees them


def test_an_object_store_failure_at_commit_is_a_store_error_and_publishes_nothing(
    store: BlobStore, backend: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: Any) -> None:
        raise backend.errors({"Error": {"Code": "InternalError", "Message": "disk full"}}, "CopyObject")

    monkeypatch.setattr(backend.client, "copy_object", refuse)
    with pytest.raises(StoreError, match=r"object store: .*disk full"):
        store.put_bytes(os.urandom(11 * MIB))
    assert objects(backend) == [] and backend.pending_uploads() == []
