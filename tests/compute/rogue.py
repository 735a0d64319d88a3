"""A hand-driven worker session over the coordinator's real TLS channel, for the attack tests: it
sends exactly what a test tells it to, including what no honest worker would."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import grpc
from eth_account import Account
from eth_account.signers.local import LocalAccount

from databright.compute.gateway import Gateway
from databright.protocol import worker_pb2 as pb
from databright.protocol.signing import challenge_text, request_statement, sign_text
from databright.worker.agent import CHANNEL_OPTIONS, METHOD
from databright.worker.tls import pinned_credentials


class Rogue:
    def __init__(self, gateway: Gateway, account: LocalAccount | None = None) -> None:
        self.account = account or Account.create()
        creds, name = pinned_credentials(gateway.url, gateway.cert_sha256)
        self.channel = grpc.secure_channel(gateway.url, creds, [*CHANNEL_OPTIONS,
                                                                ("grpc.ssl_target_name_override", name)])
        self.out: queue.Queue[pb.FromWorker | None] = queue.Queue()
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.sent_answer: pb.Answer | None = None
        stream = self.channel.stream_stream(METHOD, request_serializer=pb.FromWorker.SerializeToString,
                                            response_deserializer=pb.FromCoordinator.FromString)
        self.call = stream(iter(self.out.get, None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for msg in self.call:
                self.inbox.put(msg)
        except grpc.RpcError as exc:
            self.inbox.put(exc)
        self.inbox.put(None)

    def send(self, **kind: Any) -> None:
        self.out.put(pb.FromWorker(**kind))

    def next(self, timeout: float = 15.0) -> Any:
        return self.inbox.get(timeout=timeout)

    def handshake(self, address: str | None = None, signer: LocalAccount | None = None,
                  answer: pb.Answer | None = None) -> Any:
        """Hello for `address` (default: its own), then an answer signed by `signer` (default: its own key),
        or the given `answer` verbatim; returns the coordinator's verdict (welcome or refused)."""
        claimed = address or str(self.account.address)
        self.send(hello=pb.Hello(address=claimed))
        challenge = self.next()
        assert challenge.WhichOneof("kind") == "challenge"
        self.challenge = challenge.challenge
        if answer is None:
            answer = pb.Answer(address=claimed, signature=sign_text(signer or self.account,
                                                                     challenge_text(challenge.challenge)))
        self.sent_answer = answer
        self.send(answer=answer)
        return self.next()

    def signed(self, request: pb.Request, reply: pb.Reply, signer: LocalAccount | None = None) -> pb.Reply:
        reply.id = request.id
        reply.signature = sign_text(signer or self.account, request_statement(request, reply).text())
        return reply

    def serve(self, forge: Callable[[pb.Request], pb.Reply | None]) -> threading.Thread:
        """Answers every request with `forge(request)` (signed by it, unless forge signed it already)."""
        def loop() -> None:
            while (msg := self.next(timeout=120)) is not None and not isinstance(msg, grpc.RpcError):
                if msg.WhichOneof("kind") != "request":
                    continue
                reply = forge(msg.request)
                if reply is None:
                    continue
                if not reply.signature:
                    reply = self.signed(msg.request, reply)
                self.send(reply=reply)

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self.out.put(None)
        self.call.cancel()
        self.channel.close()
