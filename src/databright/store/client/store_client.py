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
network (`pipeline.Pipelined`), so the per-chunk cost of Python stays out of the way. Blobs go
both ways over http.client connections kept alive between calls (`connections`), an upload's
body sent from reused buffers and a download's read straight into them; the one small request
(the server's limit) goes through httpx.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from eth_account.signers.local import LocalAccount

from databright.store.auth import sign_request
from databright.store.client.connections import ConnectionPool, Progress, file_chunks, fill, read_quietly
from databright.store.errors import (
    AccessDenied,
    BlobNotFound,
    BlobTooLarge,
    IntegrityError,
    NotAuthenticated,
    StoreError,
    StoreUnavailable,
)
from databright.store.lib.backend import canonical_cid, cid_digest, cid_text
from databright.store.lib.fsutil import StreamingWriter
from databright.store.lib.pipeline import Buffer, PipelinedSha256

CHUNK = 4 << 20

_ERRORS: dict[int, type[StoreError]] = {401: NotAuthenticated, 403: AccessDenied, 404: BlobNotFound, 413: BlobTooLarge}


class StoreClient:
    """A store server at `url`, used as the account of `signer` (an eth_account LocalAccount)."""

    def __init__(self, url: str, signer: LocalAccount, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.signer = signer
        # No overall deadline (a 2 GB transfer is slow); `timeout` bounds each connect, read and write.
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout), trust_env=False)
        self._max_upload: int | None = None
        where = urlsplit(self.url)
        if where.scheme not in ("http", "https") or not where.hostname:
            raise ValueError(f"not a store server URL: {url!r}")
        self._prefix = where.path
        self._pool = ConnectionPool(where.scheme, where.hostname, where.port, timeout)

    def __repr__(self) -> str:
        return f"StoreClient({self.url!r}, account={self.signer.address})"

    def close(self) -> None:
        self._http.close()
        self._pool.close()

    def __enter__(self) -> StoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- uploads -------------------------------------------------------------------------------

    def upload_bytes(self, data: bytes, progress: Progress | None = None) -> str:
        """Stores `data`; returns its CID. `progress(done, total)`, if given, after each chunk sent."""
        self._check_size(len(data))
        if progress is None:
            return self._upload(lambda: iter([data]), len(data))
        return self._upload(lambda: _slices(data, progress), len(data))

    def upload_file(self, path: Path | str, progress: Progress | None = None) -> str:
        """Stores the file at `path`, streamed; returns its CID. `progress(done, total)` after each chunk."""
        with open(path, "rb", buffering=0) as source:
            size = os.fstat(source.fileno()).st_size
            self._check_size(size)
            return self._upload(lambda: file_chunks(source, size, CHUNK, progress), size)

    def _upload(self, body: Callable[[], Iterator[Buffer]], size: int) -> str:
        """Sends one upload over a pooled http.client connection (see `connections`), hashing it on the way.

        A kept-alive connection the server closed while idle fails before any answer comes back;
        the upload is then sent again, newly signed, on a new connection (once).
        """
        for attempt in range(2):
            connection, reused = self._pool.take()
            digest = PipelinedSha256()
            complete = False
            try:
                try:
                    status, answer, complete = self._post(connection, body(), size, digest)
                except (OSError, http.client.HTTPException) as exc:
                    if reused and attempt == 0:
                        continue
                    raise self._failure("uploading", exc) from exc
            finally:
                digest.update.drain()
                self._pool.give_back(connection, reuse=complete)
            if status != 200:
                _raise_for(status, answer)
            cid, sent = str(json.loads(answer)["cid"]), cid_text(digest.digest())
            if cid != sent:
                raise IntegrityError(f"the server stored the upload as {cid}, but what was sent is {sent}")
            return cid
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, connection: http.client.HTTPConnection, chunks: Iterator[Buffer], size: int,
              digest: PipelinedSha256) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection can be reused) of one POST /blobs."""
        connection.putrequest("POST", self._prefix + "/blobs", skip_accept_encoding=True)
        headers = {**sign_request(self.signer, "POST", "/blobs"), "Content-Length": str(size),
                   "Content-Type": "application/octet-stream"}
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders()
        for chunk in chunks:  # a failure to read the source is raised as it is, not retried
            try:
                connection.send(chunk)
            except OSError as exc:
                # A server refusing the upload answers early and stops reading: its answer may
                # still be readable. Without one, this is a broken connection.
                try:
                    response = connection.getresponse()
                except (OSError, http.client.HTTPException):
                    raise exc from None
                return response.status, read_quietly(response), False
            # Hashed in a helper thread after it is sent: while the next chunk goes out, or, for
            # the last one, while the server stores the upload (mostly waiting for its disk).
            # Hashing while sending competed with the server for the CPU at the worst moment.
            digest.update(chunk)
        response = connection.getresponse()
        answer = response.read()
        return response.status, answer, not response.will_close

    def _check_size(self, size: int) -> None:
        """Refuses an upload over the server's limit before sending a byte of it."""
        if self._max_upload is None:
            self._max_upload = int(self._send("GET", "/info").json()["max_upload_bytes"])
        if size > self._max_upload:
            raise BlobTooLarge(f"{size} bytes is over the store server's limit of {self._max_upload} bytes")

    # -- downloads -----------------------------------------------------------------------------

    def get_bytes(self, cid: str) -> bytes:
        """The whole blob, returned only once it matches `cid`. For blobs that fit in memory."""
        parts: list[Buffer] = []
        self._download(cid, lambda: parts.append, keep=True)
        return b"".join(parts)

    def download(self, cid: str, dest_path: Path | str, progress: Progress | None = None) -> int:
        """Writes the blob to `dest_path` only once it matches `cid` (else leaves it as it was); its size.

        The temp file is made only once the server has said yes (a refusal leaves no trace, and
        making it overlaps the transfer), and written in the receiving thread: a block is written
        before the next is read, while the hash runs beside (a write thread as well only added
        its hand-overs, ~0.1 ms each here).
        """
        dest = Path(dest_path)
        temp: list[tuple[int, str]] = []

        def open_temp() -> Callable[[Buffer], object]:
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            temp.append((fd, name))
            return StreamingWriter(fd).write

        def settle() -> None:
            # The name will promise verified content: the content is made durable first, while
            # the hash of its last block finishes (the disk and the CPU work at the same time).
            os.fsync(temp[0][0])

        try:
            try:
                size = self._download(cid, open_temp, progress, settle=settle)
            finally:
                for fd, _ in temp:
                    os.close(fd)
            os.replace(temp[0][1], dest)
        except BaseException:
            for _, name in temp:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
            raise
        return size

    def _download(self, cid: str, open_sink: Callable[[], Callable[[Buffer], object]],
                  progress: Progress | None = None, *, keep: bool = False,
                  settle: Callable[[], object] | None = None) -> int:
        """Streams the blob through a sink in blocks, hashing it; its size, or IntegrityError.

        `open_sink()` is called once the server answered 200, and gives the function each block
        is handed to; it must be done with a block when it returns, or the caller passes
        `keep=True`. `settle()`, if given, is called once the sink has every byte, while the hash
        of the last block may still be running; the blob is checked after it returns.

        The blocks handed to the sink are views of two buffers used in turn (see `connections`
        for why http.client), which is safe because the sink is done with a block when it
        returns and the hash is a `Pipelined` stage, which finishes a block before it accepts
        the next: the buffer being filled is never still in use. A sink that keeps blocks
        (`get_bytes`) passes `keep=True` and gets a fresh buffer each time.
        """
        name = canonical_cid(cid)
        path = f"/blobs/{name}"
        digest = PipelinedSha256()
        done, total = 0, -1
        connection, reused = self._pool.take()
        complete = False
        try:
            try:
                connection.request("GET", self._prefix + path, headers=sign_request(self.signer, "GET", path, name))
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                if reused:  # the server closed an idle keep-alive connection: ask again on a new one
                    connection.close()
                    return self._download(cid, open_sink, progress, keep=keep, settle=settle)
                raise self._failure(f"reading {name}", exc) from exc
            if response.status != 200:
                _raise_for(response.status, read_quietly(response), response.reason)
            total = int(response.getheader("content-length") or -1)
            sink = open_sink()
            buffers: list[bytearray] = []
            while True:
                # Sized to what is left (a 1 MB blob must not pay for zeroing 2 x 4 MiB), made lazily.
                want = CHUNK if total < 0 else min(CHUNK, total - done)
                # Every block but the last is CHUNK long, so a buffer made for one fits the next.
                slot = done // CHUNK % 2
                if keep or len(buffers) <= slot:
                    buffer = bytearray(want)
                    if not keep:
                        buffers.append(buffer)
                else:
                    buffer = buffers[slot]
                try:
                    got = fill(response, buffer, want)
                except (OSError, http.client.HTTPException) as exc:
                    raise self._failure(f"reading {name}", exc) from exc
                if got:
                    block = memoryview(buffer)[:got] if got < len(buffer) else buffer
                    digest.update(block)
                    sink(block)
                    done += got
                    if progress is not None:
                        progress(done, total)
                if got < want or want == 0 or done == total:
                    break
            complete = done == total and not response.will_close
        finally:
            if not complete:
                digest.update.drain()
            self._pool.give_back(connection, reuse=complete)
        if 0 <= total != done:  # the server aborts a read that fails its check mid-stream (see `server`)
            raise IntegrityError(f"{name}: the server stopped sending after {done} of {total} bytes, as it does "
                                 "when the blob fails its integrity check mid-read (or the connection broke)")
        try:
            if settle is not None:
                settle()
        finally:
            digest.update.drain()  # settle may fail; the hash must not outlive the buffers either way
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
            _raise_for(response.status_code, response.content, response.reason_phrase)
        return response

    def _failure(self, doing: str, exc: Exception) -> StoreError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | ConnectionRefusedError):
            return StoreUnavailable(f"cannot reach the store server at {self.url} ({exc}); is `databright store "
                                    "serve` running?")
        return StoreUnavailable(f"{doing} at the store server {self.url} failed ({type(exc).__name__}: {exc})")


def _raise_for(status: int, body: bytes, phrase: str = "") -> NoReturn:
    """The typed error for a refusal: its status and JSON body ``{"error", "reason"}``."""
    try:
        answer = json.loads(body)
        error, reason = str(answer.get("error", "")), str(answer.get("reason", answer))
    except (ValueError, AttributeError):
        error, reason = "", body[:200].decode("utf-8", "replace") or phrase
    if error == "integrity":
        raise IntegrityError(reason)
    kind = StoreUnavailable if status == 503 else _ERRORS.get(status, StoreError)
    raise kind(f"store server refused ({status}): {reason}")


def _slices(data: bytes, progress: Progress) -> Iterator[Buffer]:
    """`data` in CHUNK-sized views (no copies), reporting each one sent."""
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield view[start : start + CHUNK]
        progress(min(start + CHUNK, len(data)), len(data))
