"""A backend on S3-compatible object storage (AWS S3, MinIO, Ceph, SeaweedFS), through boto3.

Objects hold exactly what a local blob file holds, the sealed blob (header + encrypted segments),
under the key ``<prefix><cid>``: the object store only ever sees ciphertext and CIDs.

Atomic publication. An upload's CID is known only at its end, but an S3 upload's key is fixed
when it starts, so:
* a blob under two parts (`part_size`) is kept in memory and published by one PUT under its CID
  (S3 makes an object visible only once its PUT completes);
* a larger one is a multipart upload under a staging key ``<prefix>staging/<uuid>`` whose first
  part (the one with the header, known last) is sent at commit; the completed staging object is
  then copied inside the object store onto its CID key (again visible only when complete) and
  deleted. The staging keys are under a "folder", so `list` never reports them.
An upload aborted in-process aborts its multipart upload. One whose process was killed leaves a
multipart upload (or, killed between completing and copying, a staging object) that no reader can
see; `sweep(older_than)`, which the server runs at start and then periodically, removes those
older than the longest upload can take.

The only other objects are the uploader records (`add_note`, used by `uploads.ObjectUploadIndex`):
empty objects ``<prefix>uploads/<cid>/<address>``, so every server on the bucket sees every upload.

Reads are ranged GETs of `read_window` bytes, so a reader never holds more than a window and an
abandoned read costs at most one.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import time
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlparse

from databright.errors import CidError
from databright.store.errors import BlobNotFound, StoreError
from databright.store.lib.backend import BlobBackend, Chunk, StagedBlob, canonical_cid

PART_SIZE = 16 << 20  # S3 wants parts of 5 MiB at least (but the last); one part per request
READ_WINDOW = 8 << 20
STAGING = "staging/"
NOTES = "uploads/"
STALE_AFTER = 24 * 3600.0  # an upload older than this is dead: longer than any upload can take
COPY_LIMIT = 5 << 30  # largest object a single CopyObject may copy


def client_for(endpoint: str | None = None) -> Any:
    """A boto3 S3 client; credentials and region as boto3 finds them (AWS_* variables, ~/.aws)."""
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                    max_pool_connections=32)
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, "some/prefix/")."""
    parts = urlparse(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StoreError(f"not an S3 URL (s3://BUCKET or s3://BUCKET/PREFIX): {url}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3Backend(BlobBackend):
    """Sealed blobs as objects ``<prefix><cid>`` in `bucket`."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE,
                 read_window: int = READ_WINDOW) -> None:
        if part_size < 5 << 20:
            raise ValueError("S3 parts are 5 MiB at least")
        if prefix and not prefix.endswith("/"):
            raise ValueError("a prefix ends with '/'")
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.part_size, self.read_window = part_size, read_window
        self.errors = client.exceptions.ClientError

    @classmethod
    def from_url(cls, url: str, endpoint: str | None = None) -> S3Backend:
        """The backend for ``s3://bucket[/prefix]``; the bucket must exist."""
        bucket, prefix = parse_url(url)
        backend = cls(client_for(endpoint), bucket, prefix)
        try:
            backend.client.head_bucket(Bucket=bucket)
        except Exception as exc:  # botocore raises ClientError, EndpointConnectionError, NoCredentialsError...
            raise StoreError(f"cannot use bucket {bucket!r} at {endpoint or 'AWS'}: {exc}") from exc
        return backend

    def __repr__(self) -> str:
        return f"S3Backend(s3://{self.bucket}/{self.prefix})"

    def key(self, cid: str) -> str:
        return self.prefix + canonical_cid(cid)

    def stage(self) -> StagedBlob:
        return _S3Staged(self)

    def open(self, cid: str) -> BinaryIO:
        key = self.key(cid)
        info = self._head(key)
        if info is None:
            raise BlobNotFound(f"no blob {cid}")
        return _RangedReader(self, key, int(info["ContentLength"]), str(info["ETag"]))  # type: ignore[return-value]

    def exists(self, cid: str) -> bool:
        return self._head(self.key(cid)) is not None

    def stored_size(self, cid: str) -> int:
        info = self._head(self.key(cid))
        if info is None:
            raise BlobNotFound(f"no blob {cid}")
        return int(info["ContentLength"])

    def delete(self, cid: str) -> bool:
        key = self.key(cid)
        if self._head(key) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def list(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
        for page in pages:
            for item in page.get("Contents", []):
                name = str(item["Key"])[len(self.prefix):]
                try:
                    if canonical_cid(name) == name:
                        yield name
                except CidError:
                    continue  # an object someone else put here is not a blob

    def sweep(self, older_than: float = STALE_AFTER) -> int:
        """Aborts multipart uploads and deletes staging objects older than `older_than` seconds.

        Every server on a bucket may run it: a dead upload is removed once, a live one (younger
        than the longest upload takes) never. Returns how many were removed.
        """
        cutoff = time.time() - older_than
        removed = 0
        uploads = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix + STAGING)
        for page in uploads:
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() <= cutoff:
                    self._quietly(self.client.abort_multipart_upload, Bucket=self.bucket, Key=upload["Key"],
                                  UploadId=upload["UploadId"])
                    removed += 1
        objects = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + STAGING)
        for page in objects:
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() <= cutoff:
                    self._quietly(self.client.delete_object, Bucket=self.bucket, Key=item["Key"])
                    removed += 1
        return removed

    def pending_uploads(self) -> builtins.list[str]:
        """Keys of the multipart uploads in progress (or orphaned) under this prefix."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.prefix)
        return [str(u["Key"]) for page in pages for u in page.get("Uploads", [])]

    # -- the uploader records of `uploads.ObjectUploadIndex` ------------------------------------

    def add_note(self, cid: str, address: str) -> None:
        """Records `address` as an uploader of `cid`: an empty object ``<prefix>uploads/<cid>/<address>``."""
        if not self.has_note(cid, address):  # keep the first record's time: uploaders are listed oldest first
            self.client.put_object(Bucket=self.bucket, Key=self._note(cid, address), Body=b"")

    def has_note(self, cid: str, address: str) -> bool:
        """Whether `address` is noted for `cid` (one HEAD request)."""
        return self._head(self._note(cid, address)) is not None

    def _note(self, cid: str, address: str) -> str:
        return f"{self.prefix}{NOTES}{canonical_cid(cid)}/{address}"

    def notes(self, cid: str) -> builtins.list[str]:
        """The addresses noted for `cid`, oldest first."""
        start = f"{self.prefix}{NOTES}{canonical_cid(cid)}/"
        answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=start)
        found = sorted(answer.get("Contents", []), key=lambda item: (item["LastModified"], item["Key"]))
        return [str(item["Key"])[len(start):] for item in found]

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except self.errors as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"object store: {exc}") from exc

    def _quietly(self, call: Any, **kwargs: Any) -> None:
        """A cleanup step; another server may have done it first."""
        with contextlib.suppress(self.errors):
            call(**kwargs)


class _S3Staged(StagedBlob):
    """Buffers the first part in memory; later parts go out as they fill (see the module docstring)."""

    def __init__(self, backend: S3Backend) -> None:
        self._backend = backend
        self._first: bytearray | None = bytearray()  # None once committed or aborted
        self._buffer = bytearray()
        self._key = f"{backend.prefix}{STAGING}{uuid.uuid4().hex}"
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: Chunk) -> None:
        first = self._live()
        room = self._backend.part_size - len(first)
        if room > 0:
            view = memoryview(data).cast("B")
            first += view[:room]
            data = view[room:]
        self._buffer += data
        while len(self._buffer) >= self._backend.part_size:
            part, self._buffer = self._buffer[: self._backend.part_size], self._buffer[self._backend.part_size :]
            self._send(part, len(self._parts) + 2)  # part 1 is the first part, sent at commit

    def rewrite_head(self, data: Chunk) -> None:
        first = self._live()
        if len(data) > len(first):
            raise ValueError("rewrite_head may only replace bytes already written")
        first[: len(data)] = data

    def commit(self, cid: str) -> bool:
        try:
            return self._commit(cid)
        except self._backend.errors as exc:  # the object store refused or failed: nothing is published
            self.abort()
            raise StoreError(f"object store: {exc}") from exc

    def _commit(self, cid: str) -> bool:
        first = self._live()
        b = self._backend
        key = b.key(cid)
        if b._head(key) is not None:
            self.abort()
            return False
        if self._upload_id is None:  # under two parts, all in memory: one PUT publishes it
            b.client.put_object(Bucket=b.bucket, Key=key, Body=bytes(first + self._buffer))
            self._first, self._buffer = None, bytearray()
            return True
        if self._buffer:
            self._send(self._buffer, len(self._parts) + 2)
        self._send(first, 1)
        b.client.complete_multipart_upload(
            Bucket=b.bucket, Key=self._key, UploadId=self._upload_id,
            MultipartUpload={"Parts": sorted(self._parts, key=lambda p: int(p["PartNumber"]))})
        self._upload_id, self._first = None, None
        try:
            source = {"Bucket": b.bucket, "Key": self._key}
            if b.part_size * (len(self._parts) - 1) + len(first) < COPY_LIMIT:
                b.client.copy_object(Bucket=b.bucket, Key=key, CopySource=source)
            else:
                b.client.copy(source, b.bucket, key)  # a multipart copy, itself visible only when complete
        finally:
            b._quietly(b.client.delete_object, Bucket=b.bucket, Key=self._key)
        return True

    def abort(self) -> None:
        if self._first is None:
            return
        self._first, self._buffer = None, bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            b = self._backend
            b._quietly(b.client.abort_multipart_upload, Bucket=b.bucket, Key=self._key, UploadId=upload_id)

    def _live(self) -> bytearray:
        if self._first is None:
            raise StoreError("write after commit or abort")
        return self._first

    def _send(self, data: bytearray, number: int) -> None:
        b = self._backend
        try:
            if self._upload_id is None:
                self._upload_id = str(b.client.create_multipart_upload(Bucket=b.bucket, Key=self._key)["UploadId"])
            answer = b.client.upload_part(Bucket=b.bucket, Key=self._key, UploadId=self._upload_id,
                                          PartNumber=number, Body=bytes(data))
        except b.errors as exc:
            raise StoreError(f"object store: {exc}") from exc
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})


class _RangedReader(io.RawIOBase):
    """A stored object read by ranged GETs of one window at a time, pinned to the ETag it opened."""

    def __init__(self, backend: S3Backend, key: str, size: int, etag: str) -> None:
        self._backend, self._key, self._size, self._etag = backend, key, size, etag
        self._pos = 0
        self._window = b""
        self._window_at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if self._pos >= self._size or not len(target):
            return 0
        offset = self._pos - self._window_at
        if not 0 <= offset < len(self._window):
            self._fetch()
            offset = 0
        n = min(len(target), len(self._window) - offset)
        target[:n] = self._window[offset : offset + n]
        self._pos += n
        return n

    def _fetch(self) -> None:
        b = self._backend
        end = min(self._size, self._pos + b.read_window) - 1
        try:
            answer = b.client.get_object(Bucket=b.bucket, Key=self._key, Range=f"bytes={self._pos}-{end}",
                                         IfMatch=self._etag)
            body = answer["Body"]
            try:
                self._window = body.read()
            finally:
                body.close()
        except b.errors as exc:
            raise StoreError(f"object store read of {self._key}: {exc}") from exc
        if len(self._window) != end + 1 - self._pos:
            raise StoreError(f"object store gave {len(self._window)} bytes for a range of {end + 1 - self._pos}")
        self._window_at = self._pos
