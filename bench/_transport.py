"""The protocol's message costs beside a raw TCP socket, measured in the same run (bench/compute.py).

Both servers are other processes on loopback: a socket echo server (length-prefixed messages), and a
worker process dialling the coordinator's gateway (TLS, an authenticated session, every reply signed by
the worker and verified, decoded and checked by the coordinator). Rounds alternate between the two so
that the machine's drift hits both alike; the medians of the rounds are reported.

  round trip      a 1 KiB message there and back: the socket echoes 1 KiB; the protocol sends a ping whose
                  1 KiB float32 payload the worker decodes, re-encodes and echoes in a signed pong
  4 MiB           the same with a 4 MiB payload, as throughput: 2 x 4 MiB / round trip (both directions)
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
    kib = np.ones(256, np.float32)
    mib4 = np.ones(1 << 20, np.float32)
    raw_kib, raw_4 = kib.tobytes(), mib4.tobytes()
    rows: dict[str, list[float]] = {"socket_rtt": [], "protocol_rtt": [], "socket_4mib": [], "protocol_4mib": []}
    try:
        for _ in range(3):  # warm-up
            h.ping(kib).result(30)
            h.ping(mib4).result(30)
            echo.round_trip(raw_4)
        for _ in range(rounds):
            rows["socket_rtt"].append(_timed(lambda: echo.round_trip(raw_kib), small))
            rows["protocol_rtt"].append(_timed(lambda: h.ping(kib).result(30), small))
            rows["socket_4mib"].append(_timed(lambda: echo.round_trip(raw_4), big))
            rows["protocol_4mib"].append(_timed(lambda: h.ping(mib4).result(30), big))
    finally:
        echo.close()
        pool.stop()
        gateway.stop()
    med = {k: statistics.median(v) for k, v in rows.items()}
    mb = 2 * len(raw_4) / 1e6
    return {
        "socket_round_trip_us": med["socket_rtt"] * 1e6, "protocol_round_trip_us": med["protocol_rtt"] * 1e6,
        "protocol_round_trip_ratio": med["protocol_rtt"] / med["socket_rtt"],
        "socket_4mib_mb_s": mb / med["socket_4mib"], "protocol_4mib_mb_s": mb / med["protocol_4mib"],
        "tensor_4mib_throughput_ratio": med["socket_4mib"] / med["protocol_4mib"],
        "transport_rounds": rounds,
    }
