"""`StoreClient`: upload to and read from a store server, streaming, checking every CID itself.

Why the client checks what the server already checks: the server is trusted with ciphertext and
access rules, but a name is a promise about content, so whoever holds the bytes last verifies
them. An upload is hashed while it is sent and the CID the server answers must match; a download
is hashed while it is written to a temp file next to the destination, which is renamed into place
only when the whole blob matches its CID. A failed download leaves the destination untouched.

Refusals become typed errors: 401 NotAuthenticated, 403 AccessDenied, 404 BlobNotFound, 413
BlobTooLarge, a 500 ``integrity`` answer or a body that ends early (the server aborts a read that
fails its check mid-stream, see `server`) IntegrityError, an unreachable server StoreError.

Large transfers go in `CHUNK`-sized pieces, with hashing and file writes overlapped with the
network (`pipeline.Pipelined`), so the per-chunk cost of Python stays out of the way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
from eth_account.signers.local import LocalAccount

from databright.store._fsutil import StreamingWriter
from databright.store.auth import sign_request
from databright.store.backend import canonical_cid, cid_digest, cid_text
from databright.store.errors import (
    AccessDenied,
    BlobNotFound,
    BlobTooLarge,
    IntegrityError,
    NotAuthenticated,
    StoreError,
    StoreUnavailable,
)
from databright.store.pipeline import Pipelined, PipelinedSha256

CHUNK = 4 << 20
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)

_ERRORS: dict[int, type[StoreError]] = {401: NotAuthenticated, 403: AccessDenied, 404: BlobNotFound, 413: BlobTooLarge}


class StoreClient:
    """A store server at `url`, used as the account of `signer` (an eth_account LocalAccount)."""

    def __init__(self, url: str, signer: LocalAccount, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.signer = signer
        # No overall deadline (a 2 GB transfer is slow); `timeout` bounds each connect, read and write.
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout), trust_env=False)
        self._max_upload: int | None = None

    def __repr__(self) -> str:
        return f"StoreClient({self.url!r}, account={self.signer.address})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- uploads -------------------------------------------------------------------------------

    def upload_bytes(self, data: bytes) -> str:
        """Stores `data`; returns its CID."""
        self._check_size(len(data))
        digest = PipelinedSha256()
        digest.update(data)
        return self._upload(data, len(data), digest)

    def upload_file(self, path: Path | str, progress: Progress | None = None) -> str:
        """Stores the file at `path`, streamed; returns its CID. `progress(done, total)` after each chunk."""
        size = os.path.getsize(path)
        self._check_size(size)
        digest = PipelinedSha256()

        def body() -> Iterator[bytes]:
            done = 0
            with open(path, "rb", buffering=0) as source:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    yield chunk
                    done += len(chunk)
                    if progress is not None:
                        progress(done, size)

        return self._upload(body(), size, digest)

    def _upload(self, content: bytes | Iterator[bytes], size: int, digest: PipelinedSha256) -> str:
        headers = {**sign_request(self.signer, "POST", "/blobs"), "content-length": str(size),
                   "content-type": "application/octet-stream"}
        response = self._send("POST", "/blobs", content=content, headers=headers)
        cid, sent = str(response.json()["cid"]), cid_text(digest.digest())
        if cid != sent:
            raise IntegrityError(f"the server stored the upload as {cid}, but what was sent is {sent}")
        return cid

    def _check_size(self, size: int) -> None:
        """Refuses an upload over the server's limit before sending a byte of it."""
        if self._max_upload is None:
            self._max_upload = int(self._send("GET", "/info").json()["max_upload_bytes"])
        if size > self._max_upload:
            raise BlobTooLarge(f"{size} bytes is over the store server's limit of {self._max_upload} bytes")

    # -- downloads -----------------------------------------------------------------------------

    def get_bytes(self, cid: str) -> bytes:
        """The whole blob, returned only once it matches `cid`. For blobs that fit in memory."""
        parts: list[bytes] = []
        self._download(cid, parts.append)
        return b"".join(parts)

    def download(self, cid: str, dest_path: Path | str, progress: Progress | None = None) -> int:
        """Writes the blob to `dest_path` only once it matches `cid` (else leaves it as it was); its size."""
        dest = Path(dest_path)
        fd, temp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            write = Pipelined(StreamingWriter(fd).write)
            try:
                size = self._download(cid, write, progress)
                write.wait()
                os.fsync(fd)  # the name will promise verified content: make the content durable first
            finally:
                write.drain()
                os.close(fd)
            os.replace(temp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return size

    def _download(self, cid: str, sink: Callable[[bytes], object], progress: Progress | None = None) -> int:
        name = canonical_cid(cid)
        path = f"/blobs/{name}"
        digest = PipelinedSha256()
        done, started = 0, False
        try:
            with self._http.stream("GET", path, headers=sign_request(self.signer, "GET", path, name)) as response:
                if response.status_code != 200:
                    response.read()
                    _raise_for(response)
                started = True
                total = int(response.headers.get("content-length", -1))
                for block in _blocks(response.iter_raw()):
                    digest.update(block)
                    sink(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except httpx.TransportError as exc:
            if started and isinstance(exc, httpx.RemoteProtocolError):  # the body ended before its Content-Length
                raise IntegrityError(f"{name}: the server stopped sending after {done} bytes, as it does when the "
                                     f"blob fails its integrity check mid-read (or the connection broke): {exc}"
                                     ) from exc
            raise self._failure(f"reading {name}", exc) from exc
        if digest.digest() != cid_digest(name):
            raise IntegrityError(f"{name}: the data received does not match its CID")
        return done

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._failure(f"{method} {path}", exc) from exc
        if response.status_code != 200:
            _raise_for(response)
        return response

    def _failure(self, doing: str, exc: httpx.TransportError) -> StoreError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return StoreUnavailable(f"cannot reach the store server at {self.url} ({exc}); is `databright store "
                                    "serve` running?")
        return StoreUnavailable(f"{doing} at the store server {self.url} failed ({type(exc).__name__}: {exc})")


def _raise_for(response: httpx.Response) -> NoReturn:
    try:
        body = response.json()
        error, reason = str(body.get("error", "")), str(body.get("reason", body))
    except ValueError:
        error, reason = "", response.text[:200] or response.reason_phrase
    if error == "integrity":
        raise IntegrityError(reason)
    kind = StoreUnavailable if response.status_code == 503 else _ERRORS.get(response.status_code, StoreError)
    raise kind(f"store server refused ({response.status_code}): {reason}")


def _blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Regroups the network's small reads into `CHUNK`-sized blocks (one copy each)."""
    parts: list[bytes] = []
    pending = 0
    for chunk in chunks:
        parts.append(chunk)
        pending += len(chunk)
        if pending >= CHUNK:
            yield b"".join(parts)
            parts, pending = [], 0
    if parts:
        yield b"".join(parts)
