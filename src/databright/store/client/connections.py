"""Kept-alive http.client connections for `StoreClient`'s transfers, and the reads they need.

Why http.client and not httpx for blobs: httpx hands a body over in 64 KiB pieces, each one
through h11's pure-Python parser, and then they had to be joined again; reading straight into
large buffers (`readinto`) took the client's CPU time per 100 MB from ~45 to ~20 ms for the HTTP
part alone, and sending from reused buffers saves allocating (and faulting in) fresh ones.
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import threading
from collections.abc import Callable, Iterator

from databright.store.errors import StoreError
from databright.store.lib.pipeline import Buffer

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


class _Connection(http.client.HTTPConnection):
    """An HTTP connection that sends each write at once (TCP_NODELAY, as the server's side does).

    Why: http.client leaves Nagle's algorithm on, so the end of a body could wait for the
    acknowledgement of what went before it; a 1 MB upload took ~0.3 ms less without it here.
    """

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _SecureConnection(http.client.HTTPSConnection):
    """`_Connection` over TLS."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ConnectionPool:
    """Idle keep-alive connections to one server, handed to one transfer at a time.

    http.client connections are not thread-safe, so each transfer takes one for itself and gives
    it back only after reading a whole answer (as httpx's pool does): a new connection costs a
    TCP handshake, ~1 ms on a busy machine, a tenth of a 1 MB read.
    """

    def __init__(self, scheme: str, host: str, port: int | None, timeout: float, *, keep: int = 4) -> None:
        self._kind: type[http.client.HTTPConnection] = _SecureConnection if scheme == "https" else _Connection
        self._host, self._port, self._timeout, self._keep = host, port, timeout, keep
        self.idle: list[http.client.HTTPConnection] = []  # most recently returned last
        self._lock = threading.Lock()

    def take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection, else a new one; and whether it is reused.

        One the server has closed meanwhile reads as ready (end of stream) and is dropped here;
        callers still retry once on a reused connection, for a close that comes in between.
        """
        while True:
            with self._lock:
                if not self.idle:
                    break
                connection = self.idle.pop()
            sock = connection.sock
            if sock is not None and sock.fileno() >= 0 and not select.select([sock], [], [], 0)[0]:
                return connection, True
            connection.close()
        return self._kind(self._host, self._port, timeout=self._timeout), False

    def give_back(self, connection: http.client.HTTPConnection, *, reuse: bool) -> None:
        """Keeps `connection` for the next transfer if `reuse` (its answer was read whole), else closes it."""
        if reuse:
            with self._lock:
                if len(self.idle) < self._keep:
                    self.idle.append(connection)
                    return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()


def read_quietly(response: http.client.HTTPResponse) -> bytes:
    """A refusal's body (small JSON); empty if the connection broke while reading it."""
    try:
        return response.read(1 << 20)
    except (OSError, http.client.HTTPException):
        return b""


def fill(response: http.client.HTTPResponse, buffer: bytearray, want: int) -> int:
    """Reads into `buffer` until it holds `want` bytes or the body ends; how many it holds."""
    view = memoryview(buffer)[:want]
    got = 0
    while got < want:
        n = response.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def file_chunks(source: io.FileIO, size: int, chunk: int, progress: Progress | None) -> Iterator[Buffer]:
    """The file from its start in `chunk`-sized blocks, read into two buffers used in turn.

    Safe because `StoreClient` sends a block and hands it to its hash (a Pipelined stage, which
    finishes a block before it takes the next) before asking for the next one, so the buffer
    being refilled was hashed already. Starting from 0 each time lets an upload be sent again
    on a new connection.
    """
    source.seek(0)
    done = 0
    buffers = [bytearray(min(chunk, size)) for _ in range(2 if size > chunk else 1)]
    while done < size:
        buffer = buffers[done // chunk % len(buffers)]
        try:
            got = source.readinto(buffer)
        except OSError as exc:
            raise StoreError(f"reading {getattr(source, 'name', 'the file')} failed: {exc}") from exc
        if not got:
            raise StoreError(f"{getattr(source, 'name', 'the file')} shrank while it was uploaded "
                             f"({done} of {size} bytes)")
        yield memoryview(buffer)[:got] if got < len(buffer) else buffer
        done += got
        if progress is not None:
            progress(done, size)
