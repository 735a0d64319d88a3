"""The protocol's message costs beside a raw TCP socket, measured in the same run (bench/compute.py).

Both servers are other processes on loopback: a socket echo server (length-prefixed messages), and a
worker process dialling the coordinator's gateway (TLS, an authenticated session, every reply signed by
the worker and verified, decoded and checked by the coordinator). Rounds alternate between the two so
that the machine's drift hits both alike; the medians of the rounds are reported.

  round trip      a 1 KiB message there and back: the socket echoes 1 KiB; the protocol sends a ping whose
                  1 KiB float32 payload the worker decodes, re-encodes and echoes in a signed pong
  4 MiB           the same with a 4 MiB payload, as throughput: 2 x 4 MiB / round trip (both directions)

A third row is plain gRPC in the protocol's own shape, so the floor grpcio itself sets is measured in
the same run: a bidirectional stream over TLS whose server is grpc.aio on a background loop thread fed
from the caller's thread (as the gateway is), and whose client (another process) answers from a
queue-fed request iterator (as the worker's agent does), echoing raw bytes with no codec, hashing or
signature. `grpc_stream_round_trip_ratio` and `grpc_4mib_throughput_ratio` are that floor against the
socket; the protocol's own cost is the rest.
"""

from __future__ import annotations

import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ECHO = r"""
import socket, struct, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept(); conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def exact(n):
    buf = bytearray(n); view = memoryview(buf); got = 0
    while got < n:
        k = conn.recv_into(view[got:])
        if not k: sys.exit(0)
        got += k
    return buf
while True:
    (n,) = struct.unpack("<Q", exact(8)); conn.sendall(struct.pack("<Q", n) + exact(n))
"""


GRPC_ECHO = r"""
import grpc, queue, sys
url, pem, name = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
opts = [("grpc.ssl_target_name_override", name), ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", 64 << 20)]
with grpc.secure_channel(url, grpc.ssl_channel_credentials(root_certificates=pem), opts) as channel:
    out = queue.Queue()
    out.put(b"hello")
    def outgoing():
        while (m := out.get()) is not None:
            yield m
    for m in channel.stream_stream("/bench.Echo/Session")(outgoing()):
        out.put(m)
"""


class GrpcEcho:
    """Plain gRPC in the protocol's shape (see the module docstring): bytes there and back, nothing else."""

    def __init__(self, folder: Path) -> None:
        import asyncio
        import threading
        from concurrent.futures import Future

        import grpc

        from databright.compute.tls import SERVER_NAME, load_or_create

        tls = load_or_create(folder)
        (folder / "echo.pem").write_bytes(tls.cert_pem)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self._future: Future[bytes] = Future()
        self._ready: Future[asyncio.Queue[bytes]] = Future()
        self._grpc = grpc

        async def session(_requests: Any, context: Any) -> None:
            outgoing: asyncio.Queue[bytes] = asyncio.Queue()
            await context.read()  # the client's hello
            self._ready.set_result(outgoing)

            async def read() -> None:
                while (msg := await context.read()) is not grpc.aio.EOF:
                    self._future.set_result(msg)
            reading = asyncio.ensure_future(read())
            try:
                while True:
                    await context.write(await outgoing.get())
            finally:
                reading.cancel()

        async def start() -> int:
            opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
            self.server = grpc.aio.server(options=opts)
            handler = grpc.stream_stream_rpc_method_handler(session)
            self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("bench.Echo",
                                                                                       {"Session": handler})])
            port = self.server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(
                [(tls.key_pem, tls.cert_pem)]))
            await self.server.start()
            return port

        port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        self.proc = subprocess.Popen([sys.executable, "-c", GRPC_ECHO, f"127.0.0.1:{port}",
                                      str(folder / "echo.pem"), SERVER_NAME])
        self.outgoing = self._ready.result(60)

    def round_trip(self, payload: bytes) -> None:
        from concurrent.futures import Future

        self._future = Future()
        self.loop.call_soon_threadsafe(self.outgoing.put_nowait, payload)
        if self._future.result(30) != payload:
            raise RuntimeError("the gRPC echo changed the payload")

    def close(self) -> None:
        import asyncio

        self.proc.kill()
        self.proc.wait(10)
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


class Echo:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline())
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _exact(self, n: int) -> bytes:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            got += self.sock.recv_into(view[got:])
        return bytes(buf)

    def round_trip(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack("<Q", len(payload)) + payload)
        (n,) = struct.unpack("<Q", self._exact(8))
        self._exact(n)

    def close(self) -> None:
        self.sock.close()
        self.proc.terminate()
        self.proc.wait(10)


def _timed(fn: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def measure(rounds: int = 7, small: int = 300, big: int = 6) -> dict[str, Any]:
    from databright.compute.gateway import CoordinatorIdentity, Gateway, admit_all
    from databright.demo.pool import HostedPool, dev_keys

    gateway = Gateway(Path(tempfile.mkdtemp(prefix="bench-transport-")),
                      CoordinatorIdentity("0x" + "10" * 20, 1, "0x" + "20" * 20), admit_all)
    gateway.start()
    pool = HostedPool(gateway, dev_keys(["bench-transport"]))
    (h,) = pool.handles
    echo = Echo()
    plain = GrpcEcho(Path(tempfile.mkdtemp(prefix="bench-grpc-echo-")))
    kib = np.ones(256, np.float32)
    mib4 = np.ones(1 << 20, np.float32)
    raw_kib, raw_4 = kib.tobytes(), mib4.tobytes()
    rows: dict[str, list[float]] = {k: [] for k in ("socket_rtt", "grpc_rtt", "protocol_rtt", "socket_4mib",
                                                     "grpc_4mib", "protocol_4mib")}
    try:
        for _ in range(3):  # warm-up
            h.ping(kib).result(30)
            h.ping(mib4).result(30)
            echo.round_trip(raw_4)
            plain.round_trip(raw_4)
        for _ in range(rounds):
            rows["socket_rtt"].append(_timed(lambda: echo.round_trip(raw_kib), small))
            rows["grpc_rtt"].append(_timed(lambda: plain.round_trip(raw_kib), small))
            rows["protocol_rtt"].append(_timed(lambda: h.ping(kib).result(30), small))
            rows["socket_4mib"].append(_timed(lambda: echo.round_trip(raw_4), big))
            rows["grpc_4mib"].append(_timed(lambda: plain.round_trip(raw_4), big))
            rows["protocol_4mib"].append(_timed(lambda: h.ping(mib4).result(30), big))
    finally:
        echo.close()
        plain.close()
        pool.stop()
        gateway.stop()
    med = {k: statistics.median(v) for k, v in rows.items()}
    mb = 2 * len(raw_4) / 1e6
    return {
        "socket_round_trip_us": med["socket_rtt"] * 1e6, "protocol_round_trip_us": med["protocol_rtt"] * 1e6,
        "grpc_stream_round_trip_us": med["grpc_rtt"] * 1e6,
        "protocol_round_trip_ratio": med["protocol_rtt"] / med["socket_rtt"],
        "grpc_stream_round_trip_ratio": med["grpc_rtt"] / med["socket_rtt"],
        "socket_4mib_mb_s": mb / med["socket_4mib"], "protocol_4mib_mb_s": mb / med["protocol_4mib"],
        "grpc_4mib_mb_s": mb / med["grpc_4mib"],
        "tensor_4mib_throughput_ratio": med["socket_4mib"] / med["protocol_4mib"],
        "grpc_4mib_throughput_ratio": med["socket_4mib"] / med["grpc_4mib"],
        "transport_rounds": rounds,
    }
