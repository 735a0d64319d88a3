"""One worker identity's session with a coordinator: dial out, authenticate, answer, reconnect.

Transport choice, from the measurements made on this machine when issue 15 was planned (grpcio 1.85,
TLS on, server in another process, 1 KiB messages; not re-measured here): a bidirectional stream round
trip ≈ 215 us (sync) / 177 us (asyncio server), unary long-poll ≈ 318 us, a raw TCP socket ≈ 54 us; a
4 MiB message ≈ 840 MB/s on a stream (socket ≈ 880). The whole protocol's cost (TLS, signed and checked
replies) is measured by bench/compute.py.
So each identity holds one bidirectional stream (`Coordinator.Session`), on its own channel (its own
TLS connection) and its own thread: an identity that hangs in its work stalls nobody else.

The coordinator speaks first with a challenge; the agent checks it is for the coordinator, chain and
market it expects and not expired, then signs it. Every request is answered in the order it came,
with a signed reply (`service.answer`). When the session ends (a coordinator restart, a cut link) the
agent dials again with exponential backoff (0.5 s doubling to 10 s, with jitter), so a restarted
coordinator finds its workers again.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from eth_account.signers.local import LocalAccount

from databright.protocol import worker_pb2 as pb
from databright.protocol.errors import ProtocolError
from databright.protocol.signing import challenge_text, sign_text
from databright.worker.service import answer
from databright.worker.tls import PinMismatch, pinned_credentials
from databright.worker.trainer import Trainer

log = logging.getLogger("databright.worker")
METHOD = "/databright.protocol.Coordinator/Session"
MAX_MESSAGE = 256 << 20  # the same limit as the coordinator's (compute/gateway.py)
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000),
                   ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)]


@dataclass(frozen=True)
class Endpoint:
    """A coordinator to work for: where it listens, its certificate's pin, and (when known, from the
    chain) the address, chain and market its challenges must name."""

    url: str
    cert_sha256: str
    coordinator: str | None = None
    chain_id: int | None = None
    market: str | None = None


def _deterministic(message: pb.FromWorker) -> bytes:
    return message.SerializeToString(deterministic=True)


class Refused(ProtocolError):
    """The coordinator refused this identity (not registered, not staked, slashed...)."""


class Agent:
    """One identity, one session at a time, in its own thread."""

    def __init__(self, account: LocalAccount, endpoint: Endpoint, trainer: Trainer | None = None, *,
                 backoff: tuple[float, float] = (0.5, 10.0)) -> None:
        self.account, self.endpoint = account, endpoint
        self.address = str(account.address)
        self.trainer = trainer or Trainer(self.address)
        self.backoff = backoff
        self.sessions = 0           # sessions the coordinator welcomed, over the agent's life
        self.last_error = ""
        self._stop = threading.Event()
        self._call: Any = None  # the live stream, cancelled by `stop`
        self._thread = threading.Thread(target=self._run, name=f"worker-{self.address[:10]}", daemon=True)

    def start(self) -> Agent:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            welcomed = False
            try:
                welcomed = self._session()
            except PinMismatch as exc:
                self.last_error = str(exc)
                log.error("worker %s: %s", self.address, exc)
            except (grpc.RpcError, OSError, ProtocolError) as exc:
                self.last_error = str(exc).splitlines()[0][:200]
                log.info("worker %s: session ended: %s", self.address, self.last_error)
            if self._stop.is_set():
                break
            delay = self.backoff[0] if welcomed else min(delay * 2, self.backoff[1])
            self._stop.wait(delay * (1 + 0.2 * random.random()))  # noqa: S311 - jitter, not a secret

    def _check(self, ch: pb.Challenge) -> None:
        e = self.endpoint
        if e.coordinator is not None and ch.coordinator.lower() != e.coordinator.lower():
            raise ProtocolError(f"challenge names coordinator {ch.coordinator}, expected {e.coordinator}")
        if e.chain_id is not None and ch.chain_id != e.chain_id:
            raise ProtocolError(f"challenge names chain {ch.chain_id}, expected {e.chain_id}")
        if e.market is not None and ch.market.lower() != e.market.lower():
            raise ProtocolError(f"challenge names market {ch.market}, expected {e.market}")
        now = time.time()
        if not now < ch.expires < now + 600 or len(ch.nonce) != 32:
            raise ProtocolError("challenge expired, too long-lived or with a bad nonce")

    def _session(self) -> bool:
        creds, name = pinned_credentials(self.endpoint.url, self.endpoint.cert_sha256)
        options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", name)]
        welcomed = False
        out: queue.Queue[pb.FromWorker | None] = queue.Queue()
        out.put(pb.FromWorker(hello=pb.Hello(address=self.address)))

        def outgoing() -> Iterator[pb.FromWorker]:
            while (msg := out.get()) is not None:
                yield msg

        with grpc.secure_channel(self.endpoint.url, creds, options) as channel:
            # deterministic: the coordinator hashes a reply's body as it arrives, and the worker signed the
            # digest of its deterministic serialisation (a map's order would otherwise differ: `traffic`)
            session = channel.stream_stream(METHOD, request_serializer=_deterministic,
                                            response_deserializer=pb.FromCoordinator.FromString)
            responses = session(outgoing())
            self._call = responses
            if self._stop.is_set():
                responses.cancel()
            try:
                for msg in responses:
                    kind = msg.WhichOneof("kind")
                    if kind == "challenge" and not welcomed:
                        self._check(msg.challenge)
                        signature = sign_text(self.account, challenge_text(msg.challenge))
                        out.put(pb.FromWorker(answer=pb.Answer(address=self.address, signature=signature)))
                    elif kind == "welcome":
                        welcomed = True
                        self.sessions += 1
                        log.info("worker %s: admitted by %s", self.address, self.endpoint.url)
                    elif kind == "refused":
                        raise Refused(f"refused by the coordinator: {msg.refused.reason}")
                    elif kind == "request" and welcomed:
                        out.put(pb.FromWorker(reply=answer(self.trainer, self.account, msg.request)))
                    else:
                        raise ProtocolError(f"unexpected {kind} message from the coordinator")
            finally:
                out.put(None)
                self._call = None
        return welcomed
