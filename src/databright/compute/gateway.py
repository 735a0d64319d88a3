"""The coordinator's gRPC server: where workers dial in, authenticate, and are sent their work.

It runs on its own asyncio loop in a background thread, over TLS with the coordinator's
self-signed certificate (`tls.py`, pinned by workers from the chain). A session begins with a fresh
challenge (32 random bytes, the coordinator's address, chain id, market address, a 30 s expiry); the
worker must answer for the address it announced with a valid EIP-191 signature before the expiry,
and `admit` (registered, staked, not slashed on-chain) must accept the address. Anything else is
refused and logged. An admitted session gets a `WorkerHandle` (one per address; a reconnecting
worker's handle is re-bound to its new session).

A session's reader takes replies only for requests it sent; a reply for any other id, or any
message but a reply, ends the session (a worker can ask for nothing: the service has one method and
the worker only answers). gRPC's own limit refuses any message over `max_message` bytes, and
keepalive pings notice a dead peer within ~15 s; both end the session, and every call pending on it
fails as `WorkerGone`, which the runner treats as the worker's fault (replaced, unit redone).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import grpc
from web3 import Web3

from databright.compute.handle import Call, Receipt, ReplyRejected, UpstreamFailed, WorkerGone, WorkerHandle
from databright.compute.tls import load_or_create
from databright.protocol import worker_pb2 as pb
from databright.protocol.errors import ProtocolError
from databright.protocol.framing import REPLY_FIELD, reader, request_frame, serialise, write
from databright.protocol.memory import keep_freed_memory
from databright.protocol.signing import ResultStatement, challenge_text, digest, signed_by

log = logging.getLogger("databright.gateway")
MAX_MESSAGE = 256 << 20  # a VGG's state is ~60 MiB; more than this from a worker is refused by gRPC itself
HANDSHAKE_S = 30
INLINE_CHECK = 256 << 10  # replies up to this size are checked on the event loop itself
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SERVER_OPTIONS = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000),
                  ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0),
                  ("grpc.http2.min_ping_interval_without_data_ms", 5_000)]


@dataclass(frozen=True)
class CoordinatorIdentity:
    """What a challenge names, so an answer is good for this coordinator, chain and market only."""

    address: str
    chain_id: int
    market: str


def admit_all(address: str) -> str | None:
    """For tests driving a runner without a chain: every address that proves its key is admitted."""
    return None


class Sent(NamedTuple):
    """What a request said, kept until its reply: the reply's statement must name exactly this."""

    job: str
    unit: int
    role: str
    kind: str
    digest: str


class Session:
    """One authenticated worker session: a queue of calls going out, the calls awaiting replies."""

    def __init__(self, gateway: Gateway, address: str) -> None:
        self.gateway, self.address = gateway, address
        self.loop = gateway.loop
        self.outgoing: asyncio.Queue[Call] = asyncio.Queue()
        self.pending: dict[int, tuple[Sent, Call]] = {}
        self.next_id = 1
        self.open = True
        self.reason = ""
        self.closed = asyncio.Event()
        self.handle: WorkerHandle | None = None

    def submit(self, call: Call) -> None:
        """From any thread: queue `call` (sent in order, once its dependencies are done)."""
        self.loop.call_soon_threadsafe(self._enqueue, call)

    def _enqueue(self, call: Call) -> None:
        if not self.open:
            call.future.set_exception(WorkerGone(f"worker {self.address}: {self.reason or 'session closed'}"))
        else:
            self.outgoing.put_nowait(call)

    def close(self, reason: str) -> None:
        """From any thread: ends the session."""
        self.loop.call_soon_threadsafe(self._close, reason)

    def _close(self, reason: str) -> None:
        if not self.open:
            return
        self.open, self.reason = False, reason
        self.closed.set()
        gone = WorkerGone(f"worker {self.address}: {reason}")
        for _, call in self.pending.values():
            if not call.future.done():
                call.future.set_exception(gone)
        self.pending.clear()
        while not self.outgoing.empty():
            call = self.outgoing.get_nowait()
            if not call.future.done():
                call.future.set_exception(gone)

    async def _writer(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        while True:
            call = await self.outgoing.get()
            try:
                resolved = [await asyncio.wrap_future(d) for d in call.deps]
            except Exception as exc:
                call.future.set_exception(UpstreamFailed(f"an input of {call.kind} failed: {exc}"))
                continue
            job, unit, role = call.context
            head = pb.Request(id=self.next_id, job=job, unit=unit, role=role)
            self.next_id += 1
            try:
                body = serialise(call.build(resolved))
            except ProtocolError as exc:  # the coordinator's own arguments do not encode: its error, not the worker's
                call.future.set_exception(exc)
                continue
            self.pending[head.id] = (Sent(job, unit, role, call.kind, digest(body)), call)
            await context.write(request_frame(head, call.kind, body))

    async def _reader(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        while True:
            received = await context.read()
            if received is grpc.aio.EOF:
                self._close("disconnected")
                return
            msg = received.message
            if msg.WhichOneof("kind") != "reply" or msg.reply.id not in self.pending:
                what = f"reply to request {msg.reply.id}" if msg.WhichOneof("kind") == "reply" else \
                    f"{msg.WhichOneof('kind')} message"
                log.warning("worker %s sent a %s it was not asked for: session closed", self.address, what)
                self.gateway.violations.append((self.address, what))
                self._close(f"protocol violation: a {what} it was not asked for")
                return
            sent, call = self.pending.pop(msg.reply.id)
            # a large reply (a state) is checked off the event loop (hashing releases the GIL), so sessions are
            # checked side by side on the machine's cores; a small one inline (two thread hops cost more than
            # its checks); either way one session's replies settle in order
            if received.body is not None and len(received.body) > INLINE_CHECK:
                await self.loop.run_in_executor(self.gateway.checkers, self._settle, sent, call, msg.reply,
                                                received.body)
            else:
                self._settle(sent, call, msg.reply, received.body)

    def _settle(self, sent: Sent, call: Call, reply: pb.Reply, body: memoryview | None) -> None:
        """Checks a reply and settles its call; nothing a worker sends can raise past here. `body` is the
        reply's body as it arrived (None when the reply has none, or another shape than one body)."""
        try:
            if body is None:
                raise ProtocolError("a reply without exactly one body")
            kind = reply.WhichOneof("kind")
            statement = ResultStatement(sent.job, sent.unit, sent.role, sent.kind, sent.digest, digest(body))
            if not signed_by(statement.text(), reply.signature, self.address):
                raise ProtocolError("the reply is not signed by the worker")
            if kind == "failure":
                raise ProtocolError(f"the worker reports a failure: {reply.failure.reason[:300]}")
            if kind != call.reply_kind:
                raise ProtocolError(f"a {kind} reply to a {call.kind} request")
            value = call.check(reply)
        except Exception as exc:  # a malformed reply may break any decoding step: all are the worker's fault
            reason = str(exc) if isinstance(exc, ProtocolError) else f"{type(exc).__name__}: {str(exc)[:200]}"
            self.gateway.violations.append((self.address, reason))
            call.future.set_exception(ReplyRejected(f"worker {self.address}: {reason}"))
            return
        if self.handle is not None:
            recording = self.handle.transcript
            kept = bytes(body) if kind == "unit" or recording is not None else None
            receipt = Receipt(statement, bytes(reply.signature), kept)
            self.handle.receipts.append(receipt)
            if recording is not None:
                recording.append(receipt)
        call.future.set_result(value)

    async def serve(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        tasks = [asyncio.ensure_future(t) for t in (self._reader(context), self._writer(context), self.closed.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if not t.cancelled() and t.exception() is not None:
                    self._close(f"session failed: {str(t.exception())[:200]}")
        finally:
            for t in tasks:
                t.cancel()
            self._close(self.reason or "session ended")


class Gateway:
    """Starts with `start()` (returns the URL workers dial), stops with `stop()`."""

    def __init__(self, folder: Path, identity: CoordinatorIdentity, admit: Callable[[str], str | None], *,
                 host: str = "127.0.0.1", port: int = 0, max_message: int = MAX_MESSAGE,
                 handshake_s: int = HANDSHAKE_S) -> None:
        self.tls = load_or_create(folder)
        self.tls_folder = folder
        self.identity, self.admit = identity, admit
        self.host, self.port, self.max_message, self.handshake_s = host, port, max_message, handshake_s
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)
        self._server: grpc.aio.Server | None = None
        self._handles: dict[str, WorkerHandle] = {}
        self.checkers = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="reply-check")
        self._lock = threading.Lock()
        self.refusals: list[tuple[str, str]] = []    # (claimed address, why), for tests and the log
        self.violations: list[tuple[str, str]] = []  # (worker, what it broke)
        self.url = ""

    @property
    def cert_sha256(self) -> str:
        return self.tls.sha256

    def start(self) -> str:
        keep_freed_memory()
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        self.url = f"{self.host}:{port}"
        log.info("gateway listening on %s (certificate %s)", self.url, self.cert_sha256[:16])
        return self.url

    async def _start(self) -> int:
        options = [*SERVER_OPTIONS, ("grpc.max_receive_message_length", self.max_message),
                   ("grpc.max_send_message_length", MAX_MESSAGE)]
        server = grpc.aio.server(options=options, maximum_concurrent_rpcs=4096)
        handler = grpc.stream_stream_rpc_method_handler(
            self._session, request_deserializer=reader(pb.FromWorker, REPLY_FIELD), response_serializer=write)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "databright.protocol.Coordinator", {"Session": handler})])
        creds = grpc.ssl_server_credentials([(self.tls.key_pem, self.tls.cert_pem)])
        port = server.add_secure_port(f"{self.host}:{self.port}", creds)
        await server.start()
        self._server = server
        return port

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.stop(grace=0.5), self.loop).result(10)
            self._server = None
        for h in list(self._handles.values()):
            h.close("the coordinator stopped")
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.checkers.shutdown(wait=False)

    # ------------------------------------------------------------ workers

    def handles(self) -> list[WorkerHandle]:
        """Every worker with an open, authenticated session, in the order they were first admitted."""
        with self._lock:
            return [h for h in self._handles.values() if h.alive]

    def handle(self, address: str) -> WorkerHandle | None:
        with self._lock:
            return self._handles.get(address.lower())

    def wait_for(self, addresses: Iterable[str], timeout: float = 120.0) -> list[WorkerHandle]:
        """The handles of `addresses`, once each has an open session (a ComputeError-free wait: raises
        TimeoutError naming the missing ones)."""
        wanted = [a.lower() for a in addresses]
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [self._handles.get(a) for a in wanted]
            if all(h is not None and h.alive for h in found):
                return [h for h in found if h is not None]
            if time.monotonic() > deadline:
                missing = [a for a, h in zip(wanted, found, strict=True) if h is None or not h.alive]
                raise TimeoutError(f"{len(missing)} workers never connected: {', '.join(missing[:5])}")
            time.sleep(0.05)

    def _bind(self, address: str, session: Session) -> None:
        with self._lock:
            handle = self._handles.get(address.lower())
            if handle is None:
                handle = self._handles[address.lower()] = WorkerHandle(address)
            old, handle.session = handle.session, session
        session.handle = handle
        if old is not None:
            old._close("replaced by a new session of the same worker")

    def _refuse(self, claimed: str, peer: str, why: str) -> pb.FromCoordinator:
        log.warning("refused a worker session from %s claiming %s: %s", peer, claimed[:42] or "nothing", why)
        self.refusals.append((claimed, why))
        return pb.FromCoordinator(refused=pb.Refused(reason=why))

    async def _session(self, requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        peer = context.peer()
        try:
            received = await asyncio.wait_for(context.read(), self.handshake_s)
        except TimeoutError:
            self._refuse("", peer, "no hello")
            return
        first: Any = received if received is grpc.aio.EOF else received.message
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "hello" or not ADDRESS.match(first.hello.address):
            await context.write(self._refuse("", peer, "a session starts with a hello naming an address"))
            return
        address = str(Web3.to_checksum_address(first.hello.address))
        me = self.identity
        challenge = pb.Challenge(nonce=os.urandom(32), coordinator=me.address, chain_id=me.chain_id,
                                 market=me.market, expires=int(time.time()) + self.handshake_s)
        await context.write(pb.FromCoordinator(challenge=challenge))
        try:
            answer = await asyncio.wait_for(context.read(), self.handshake_s + 5)
        except TimeoutError:
            self._refuse(address, peer, "no answer to the challenge")
            return
        why = self._check_answer(address, challenge, answer if answer is grpc.aio.EOF else answer.message)
        if why is None:
            why = await self.loop.run_in_executor(None, self.admit, address)
        if why is not None:
            await context.write(self._refuse(address, peer, why))
            return
        session = Session(self, address)
        self._bind(address, session)
        await context.write(pb.FromCoordinator(welcome=pb.Welcome(address=address)))
        log.info("worker %s admitted from %s", address, peer)
        await session.serve(context)

    @staticmethod
    def _check_answer(address: str, challenge: pb.Challenge, answer: Any) -> str | None:
        if answer is grpc.aio.EOF or answer.WhichOneof("kind") != "answer":
            return "the challenge was not answered"
        if time.time() > challenge.expires:
            return "the answer came after the challenge expired"
        if answer.answer.address.lower() != address.lower():
            return "the answer is for another address than the hello"
        if not signed_by(challenge_text(challenge), bytes(answer.answer.signature), address):
            return "the signature is not the address's over this challenge (forged or replayed)"
        return None
