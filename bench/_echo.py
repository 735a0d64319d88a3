"""Message round trips and throughput of a transport, measured through one small interface.

A transport is measured through a `ClientFactory`: a callable that connects and returns an `Exchange`,
whose `exchange(payload)` sends one message and returns the other end's reply. The other end follows one
rule: a message of at most SMALL bytes is echoed whole, a larger one is acknowledged by its length as
8 bytes. So `round_trip_us` (1 KiB there and back) and `throughput_mib_s` (4 MiB there, 8 bytes back)
measure the same things for every transport; another one (the worker protocol) is plugged in by writing
its factory, and compared against `tcp_client` in the same run.

Run as a script, this is also the far end (`serve`: raw TCP, TCP in TLS and gRPC with TLS side by side, in
one process)
and the near end (`client`: reads `KIND rtt|tput N` lines, answers one JSON line each), so that either
can be started on another host of a testbed (`bench/netlink.py`).
"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import ssl
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any, Protocol

import grpc

SMALL = 64 * 1024
KIB = 1024
MIB = 1024 * 1024
_LEN = struct.Struct(">I")
_GRPC_OPTIONS = [("grpc.max_send_message_length", 64 * MIB), ("grpc.max_receive_message_length", 64 * MIB)]


class Exchange(Protocol):
    def exchange(self, payload: bytes) -> bytes: ...

    def close(self) -> None: ...


ClientFactory = Callable[[], Exchange]


def reply_to(payload: bytes | bytearray | memoryview) -> bytes:
    """The far end's rule: echo a small message, acknowledge a large one by its length."""
    return bytes(payload) if len(payload) <= SMALL else struct.pack(">Q", len(payload))


def round_trip_us(factory: ClientFactory, pings: int, size: int = KIB) -> float:
    """Median microseconds of one `size`-byte message there and back, on one connection kept open."""
    client = factory()
    try:
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        for _ in range(min(50, pings)):
            client.exchange(payload)
        times = []
        for _ in range(pings):
            started = time.perf_counter_ns()
            reply = client.exchange(payload)
            times.append(time.perf_counter_ns() - started)
            if len(reply) != size:
                raise RuntimeError(f"echo of {size} bytes came back as {len(reply)}")
        return statistics.median(times) / 1000
    finally:
        client.close()


def throughput_mib_s(factory: ClientFactory, messages: int, size: int = 4 * MIB) -> float:
    """MiB/s of `size`-byte messages sent one after another, each acknowledged before the next."""
    client = factory()
    try:
        payload = bytes(size)
        for _ in range(2):
            client.exchange(payload)
        started = time.perf_counter()
        for _ in range(messages):
            if struct.unpack(">Q", client.exchange(payload))[0] != size:
                raise RuntimeError("the far end acknowledged a different length")
        return messages * size / MIB / (time.perf_counter() - started)
    finally:
        client.close()


# -- raw TCP: a 4-byte length, then the bytes ----------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("peer closed")
        got += k
    return buf


class TcpClient:
    """Raw TCP; with `cert`, the same inside TLS (the far end's certificate as the only root)."""

    def __init__(self, host: str, port: int, cert: bytes | None = None) -> None:
        sock = socket.create_connection((host, port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if cert is not None:
            context = ssl.create_default_context(cadata=cert.decode())
            sock = context.wrap_socket(sock, server_hostname=host)
        self.sock = sock

    def exchange(self, payload: bytes) -> bytes:
        if len(payload) <= SMALL:
            self.sock.sendall(_LEN.pack(len(payload)) + payload)
        else:
            self.sock.sendall(_LEN.pack(len(payload)))
            self.sock.sendall(payload)
        return bytes(_recv_exact(self.sock, _LEN.unpack(_recv_exact(self.sock, 4))[0]))

    def close(self) -> None:
        self.sock.close()


def _tcp_serve(server: socket.socket, tls: ssl.SSLContext | None = None) -> None:
    def handle(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                return
        with conn:
            try:
                while True:
                    reply = reply_to(_recv_exact(conn, _LEN.unpack(_recv_exact(conn, 4))[0]))
                    conn.sendall(_LEN.pack(len(reply)) + reply)
            except ConnectionError:
                return

    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


# -- gRPC with TLS: raw bytes as messages (no protobuf), a unary method and a bidirectional stream ------


def _channel(host: str, port: int, cert: bytes) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=cert)
    channel = grpc.secure_channel(f"{host}:{port}", credentials, options=_GRPC_OPTIONS)
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel


class GrpcUnary:
    def __init__(self, host: str, port: int, cert: bytes) -> None:
        self.channel = _channel(host, port, cert)
        self.call = self.channel.unary_unary("/bench.Echo/Unary")

    def exchange(self, payload: bytes) -> bytes:
        return bytes(self.call(payload, timeout=60))

    def close(self) -> None:
        self.channel.close()


class GrpcStream:
    def __init__(self, host: str, port: int, cert: bytes) -> None:
        self.channel = _channel(host, port, cert)
        self.requests: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.replies: Iterator[bytes] = self.channel.stream_stream("/bench.Echo/Stream")(iter(self.requests.get, None))

    def exchange(self, payload: bytes) -> bytes:
        self.requests.put(payload)
        return bytes(next(self.replies))

    def close(self) -> None:
        self.requests.put(None)
        self.channel.close()


def _grpc_server(bind: str, cert: bytes, key: bytes) -> tuple[grpc.Server, int]:
    def stream(requests: Iterator[bytes], _: Any) -> Iterator[bytes]:
        for message in requests:
            yield reply_to(message)

    handler = grpc.method_handlers_generic_handler("bench.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(lambda message, _: reply_to(message)),
        "Stream": grpc.stream_stream_rpc_method_handler(stream),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_OPTIONS)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port(f"{bind}:0", grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    return server, port


# -- the two ends as processes ------------------------------------------------------------------------


def serve(bind: str, cert: bytes, key: bytes) -> None:
    """Serves raw TCP and gRPC on `bind` until stdin closes; prints their ports as one JSON line first."""
    tcp, tls = socket.create_server((bind, 0)), socket.create_server((bind, 0))
    threading.Thread(target=_tcp_serve, args=(tcp,), daemon=True).start()
    with tempfile.TemporaryDirectory() as folder:  # ssl loads a certificate chain from files only
        Path(folder, "cert.pem").write_bytes(cert)
        Path(folder, "key.pem").write_bytes(key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(Path(folder, "cert.pem"), Path(folder, "key.pem"))
    threading.Thread(target=_tcp_serve, args=(tls, context), daemon=True).start()
    server, grpc_port = _grpc_server(bind, cert, key)
    print(json.dumps({"tcp": tcp.getsockname()[1], "tls": tls.getsockname()[1], "grpc": grpc_port}), flush=True)
    sys.stdin.read()
    server.stop(0)


def factories(host: str, ports: dict[str, int], cert: bytes) -> dict[str, ClientFactory]:
    """The transports the client end knows, each a factory bound to the far end's address."""
    return {
        "tcp": lambda: TcpClient(host, ports["tcp"]),
        "tls": lambda: TcpClient(host, ports["tls"], cert),
        "grpc-unary": lambda: GrpcUnary(host, ports["grpc"], cert),
        "grpc-stream": lambda: GrpcStream(host, ports["grpc"], cert),
    }


def client(host: str, ports: dict[str, int], cert: bytes) -> None:
    """Answers `KIND rtt N` (median µs of N pings) and `KIND tput N` (MiB/s of N 4 MiB messages)."""
    known = factories(host, ports, cert)
    for line in sys.stdin:
        kind, what, n = line.split()
        value = (round_trip_us if what == "rtt" else throughput_mib_s)(known[kind], int(n))
        print(json.dumps({"value": value}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["serve", "client"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key")
    parser.add_argument("--ports", help="the far end's ports as printed by `serve` (client only)")
    args = parser.parse_args()
    with open(args.cert, "rb") as f:
        cert = f.read()
    if args.role == "serve":
        with open(args.key, "rb") as f:
            serve(args.host, cert, f.read())
    else:
        client(args.host, json.loads(args.ports), cert)


if __name__ == "__main__":
    main()
