"""The store over HTTP: signed uploads by anyone, signed reads by those with a right on-chain.

    POST /blobs        body = the blob (streamed)        -> 200 {"cid", "size"}
    GET  /blobs/{cid}  -> 200 the blob, Content-Length set, verified against its CID
    GET  /info         -> {"service", "max_upload_bytes"} (unsigned: lets clients refuse early)

Every refusal is JSON ``{"error": code, "reason": text}`` and is logged on the
"databright.store.server" logger: 400 bad_cid, 401 not_authenticated (see `auth`), 403
access_denied (see `access`), 404 not_found, 413 too_large, 500 integrity / store_error, 503
chain_unavailable (rights cannot be checked, so nothing is read).

Memory stays flat whatever the blob size, because nothing is ever held whole. An upload is
received in the event loop and handed in large blocks to `BlobStore.put_stream` in a worker
thread (`uploads.Receiver`), so receiving overlaps hashing, encryption and writing. A download
reads the next segment in a thread while the current one is sent.

Integrity on reads: the first segment is read before any header goes out, so a blob whose
header or first segment fails its check (every blob up to one segment, 1 MiB by default) gets a
clean 500 ``integrity`` answer. A failure detected later cannot change a status already sent: the
server then stops sending and closes the connection, so the client gets fewer bytes than the
Content-Length announced, never a bad byte and never a complete-looking body (`BlobStream`
withholds the last segment until the CID is checked). `StoreClient` raises IntegrityError in
both cases, and the server logs the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any, Self

import anyio
import anyio.from_thread
import anyio.to_thread
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from databright.config import home
from databright.errors import ChainError, CidError, DataBrightError
from databright.market.client import Market
from databright.store.auth import Verifier
from databright.store.errors import BlobNotFound, BlobTooLarge, IntegrityError, NotAuthenticated, StoreError
from databright.store.lib.backend import canonical_cid
from databright.store.lib.blobstore import BlobStore
from databright.store.lib.blobstream import BlobStream
from databright.store.lib.crypto import plaintext_size
from databright.store.lib.keys import master_key
from databright.store.lib.s3 import STALE_AFTER, S3Backend
from databright.store.server.access import AccessPolicy, ChainAccessPolicy, CoordinatorRegistry, Decision
from databright.store.server.uploads import ClientGone, Receiver, Uploads, upload_index

log = logging.getLogger("databright.store.server")

DRAIN_LIMIT = 16 << 20  # body read and discarded after a 413, so the client can read the answer
DEFAULT_MAX_UPLOAD_BYTES = 4 << 30


def refusal(status: int, error: str, reason: str, **context: Any) -> JSONResponse:
    """A JSON refusal, logged with who asked for what."""
    where = " ".join(f"{k}={v}" for k, v in context.items() if v)
    (log.error if status >= 500 else log.warning)("refused %d %s: %s%s", status, error, reason,
                                                  f" [{where}]" if where else "")
    return JSONResponse({"error": error, "reason": reason}, status_code=status)


def create_app(
    store: BlobStore,
    policy: AccessPolicy,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    *,
    uploads: Uploads | None = None,
    verifier: Verifier | None = None,
) -> FastAPI:
    """The store server's ASGI app; serve it with `ServerThread`, `serve` or any ASGI server.

    `uploads` defaults to the policy's own index when it has one (a `ChainAccessPolicy` does), so
    the uploader the server records is the one the policy reads.
    """
    if uploads is None:
        own = getattr(policy, "uploads", None)
        uploads = own if isinstance(own, Uploads) else upload_index(store)
    index = uploads
    verifier = verifier or Verifier()
    app = FastAPI(title="DataBright store", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {"service": "databright-store", "max_upload_bytes": max_upload_bytes}

    # The two blob routes are plain Starlette routes (`add_route` below), not FastAPI ones: they
    # take the raw request and validate it themselves, so FastAPI's parameter machinery would
    # only add its ~0.3 ms per request (a tenth of a 1 MB transfer here).
    async def upload(request: Request) -> Response:
        try:
            who = verifier.verify("POST", request.url.path, "", request.headers)
        except NotAuthenticated as exc:
            await _drain(request.receive)
            return refusal(401, "not_authenticated", exc.reason, op="upload", client=_peer(request))
        too_large = f"uploads are limited to {max_upload_bytes} bytes"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload_bytes:
            if int(declared) <= max_upload_bytes + DRAIN_LIMIT:
                await _drain(request.receive)
            return refusal(413, "too_large", f"{too_large}; this one has {declared}", op="upload", account=who)
        receiver = Receiver(request.receive, max_upload_bytes)
        try:
            cid = await receiver.into(store, named=lambda cid: index.record(cid, who))
        except BlobTooLarge:
            if not receiver.ended:
                await _drain(request.receive)
            return refusal(413, "too_large", too_large, op="upload", account=who)
        except ClientGone:
            log.info("upload by %s abandoned by the client after %d bytes; nothing kept", who, receiver.size)
            return Response(status_code=400)
        size = receiver.size
        log.info("stored %s (%d bytes) uploaded by %s", cid, size, who)
        return JSONResponse({"cid": cid, "size": size})

    async def download(request: Request) -> Response:
        cid = str(request.path_params["cid"])
        try:
            name = canonical_cid(cid)
        except CidError as exc:
            return refusal(400, "bad_cid", str(exc), op="read", client=_peer(request))
        try:
            who = verifier.verify("GET", request.url.path, cid, request.headers)
        except NotAuthenticated as exc:
            return refusal(401, "not_authenticated", exc.reason, op="read", cid=name, client=_peer(request))
        try:
            decision, opened = await anyio.to_thread.run_sync(_check_and_open, policy, store, who, name)
        except BlobNotFound:
            return refusal(404, "not_found", f"no blob {name} in this store", op="read", account=who)
        except IntegrityError as exc:
            return refusal(500, "integrity", f"integrity: {exc}; no data was sent", op="read", account=who)
        if opened is None:
            return refusal(403, "access_denied", decision.reason, op="read", cid=name, account=who)
        stream, first, size = opened
        log.info("read %s (%d bytes) by %s: %s", name, size, who, decision.reason)
        return _BlobResponse(stream, first, size)

    app.add_middleware(_Prefetch, store=store)
    app.router.add_route("/blobs", upload, methods=["POST"])
    app.router.add_route("/blobs/{cid}", download, methods=["GET"])

    @app.exception_handler(DataBrightError)
    async def failure(request: Request, exc: DataBrightError) -> JSONResponse:
        """A store or chain failure (disk full, RPC down) is answered in JSON, never as a traceback."""
        if isinstance(exc, ChainError):
            return refusal(503, "chain_unavailable", f"cannot check rights on-chain: {exc}", path=request.url.path)
        return refusal(500, "store_error", str(exc), path=request.url.path)

    return app


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else ""


def _check_and_open(
    policy: AccessPolicy, store: BlobStore, who: str, cid: str
) -> tuple[Decision, tuple[BlobStream, bytes | None, int] | None]:
    """The policy's decision and, if allowed, the blob's stream, its first segment (checked before
    any header is sent) and its size: one trip to a worker thread for all the blocking work."""
    decision = policy.check_read(who, cid)
    if not decision.allowed:
        return decision, None
    stream = store.open_stream(cid, rehash=False)  # the key is bound to the CID; clients hash what they get
    try:
        size = plaintext_size(store.backend.stored_size(cid), stream.segment_size)
        return decision, (stream, next(stream, None), size)
    except BaseException:
        stream.close()
        raise


class _Prefetch:
    """Starts the disk on a blob as soon as a read of it arrives, before routing.

    Why: the disk is a read's longest wait (~1-1.4 ms for a cold MB here), and everything before
    it (routing, the signature, the rights) can overlap it. Before the checks on purpose: it only
    warms the page cache (nothing is sent before they pass), at most once per blob while it stays
    cached; and before routing, which costs ~0.1 ms of its own.
    """

    def __init__(self, app: ASGIApp, store: BlobStore) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/blobs/"):
            with contextlib.suppress(CidError):  # the route refuses it
                self.store.backend.prefetch(canonical_cid(scope["path"][len("/blobs/") :]))
        await self.app(scope, receive, send)


async def _drain(receive: Receive) -> None:
    """Reads and drops up to DRAIN_LIMIT of a refused body: a server that closes a connection with
    unread data makes the kernel reset it, and the client may then lose the answer."""
    seen = 0
    while seen <= DRAIN_LIMIT:
        message = await receive()
        seen += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _disconnected(receive: Receive) -> None:
    """Returns when the client goes away (a request's body messages come first: a GET has one)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _BlobResponse(Response):
    """Streams a verified blob, aborting the connection if a later segment fails (see above)."""

    def __init__(self, stream: BlobStream, first: bytes | None, size: int) -> None:
        super().__init__(media_type="application/octet-stream",
                         headers={"content-length": str(size), "x-databright-cid": stream.cid})
        self.stream, self.first, self.size = stream, first, size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = 0
        disconnect = asyncio.ensure_future(_disconnected(receive))
        segment, ahead = self.first, None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            while segment is not None and not disconnect.done():
                if self.stream.finished:  # the last segment: no trip to a thread to learn so
                    await send({"type": "http.response.body", "body": segment, "more_body": False})
                    return
                ahead = asyncio.ensure_future(anyio.to_thread.run_sync(next, self.stream, None))
                await send({"type": "http.response.body", "body": segment, "more_body": True})
                sent += len(segment)
                segment, ahead = await ahead, None
            if not disconnect.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except IntegrityError as exc:
            log.error("integrity: read of %s aborted after %d of %d bytes: %s", self.stream.cid, sent, self.size, exc)
        finally:
            disconnect.cancel()
            if ahead is not None:  # never close the stream under a read in flight
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()
            self.stream.close()


class ServerThread:
    """A store server on 127.0.0.1 in a background thread, for tests and demos.

    The socket is bound before the thread starts (port 0 picks a free one), so there is no race
    for the port and `url` is known at once; entering returns only when uvicorn accepts
    connections, and leaving stops it and joins the thread.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning") -> None:
        self.app, self.host, self.requested_port, self.log_level = app, host, port, log_level
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        self._socket, self.port = sock, int(sock.getsockname()[1])
        config = uvicorn.Config(self.app, log_level=self.log_level, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5)
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"databright-store-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise StoreError(f"the store server on {self.url} did not start")
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()


def serve(host: str, port: int, store: BlobStore, policy: AccessPolicy,
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, *, log_level: str = "info") -> None:
    """Serves until interrupted (Ctrl-C / SIGTERM stop it cleanly)."""
    app = create_app(store, policy, max_upload_bytes)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)).run()


def open_store(root: Path | None = None, backend: str | None = None, s3_endpoint: str | None = None,
               master_key_file: Path | None = None, stale_after: float = STALE_AFTER) -> BlobStore:
    """The store `databright store serve` serves: in `root` (default ``$DATABRIGHT_HOME/store``), or
    in the bucket `backend` (``s3://BUCKET[/PREFIX]``), with the key from `master_key_file` or the
    environment (`keys.master_key`). On S3 the server keeps no state of its own, so any number of
    them can serve one bucket; each removes dead uploads older than `stale_after` seconds, now and
    then periodically (`sweep_periodically`)."""
    master = master_key(root or home() / "store", master_key_file)
    if backend is None:
        return BlobStore(root, master=master)
    s3 = S3Backend.from_url(backend, s3_endpoint)
    store = BlobStore(root, backend=s3, master=master)
    sweep_periodically(s3, stale_after)
    return store


def run_server(market: Market, store: BlobStore, *, host: str = "127.0.0.1", port: int = 8600,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, rpc: str | None = None,
               coordinators: CoordinatorRegistry | None = None, log_level: str = "info") -> None:
    """Serves `store` (see `open_store`) with read rights from `market`'s chain (`rpc` is only
    reported: the market is already connected)."""
    policy = ChainAccessPolicy(market, coordinators, store=store)
    log.info("store %s serving on http://%s:%d, rights from chain %s", store.backend, host, port,
             rpc or market.chain.rpc)
    serve(host, port, store, policy, max_upload_bytes, log_level=log_level)


def sweep_periodically(backend: S3Backend, stale_after: float) -> threading.Thread:
    """Sweeps dead uploads now, then every `stale_after` seconds (at most hourly) in a daemon thread."""
    def sweep() -> None:
        try:
            removed = backend.sweep(stale_after)
        except Exception as exc:  # the object store may be briefly unreachable: try again next time
            log.warning("sweep of dead uploads in %s failed: %s", backend, exc)
        else:
            if removed:
                log.info("removed %d dead uploads from %s", removed, backend)

    sweep()

    def loop() -> None:
        while True:
            time.sleep(min(stale_after, 3600.0))
            sweep()

    thread = threading.Thread(target=loop, daemon=True, name="databright-store-sweep")
    thread.start()
    return thread
