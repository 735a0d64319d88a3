"""Overlapping the stages of a blob transfer: hashing and writing run beside the encryption.

Why: a blob passes through SHA-256 (for its CID), AES-GCM and a file write, one segment at a
time. hashlib and os.write release the GIL for large buffers; `cryptography`'s AES-GCM does not.
So while the caller encrypts segment i+1, segment i can be hashed and written on other cores.
On an idle 2-core machine this took puts from ~580 to ~800 MB/s.

Each `Pipelined` stage keeps at most one call in flight: order is kept without a queue, memory
stays at one segment per stage, and a stage that is abandoned half-way (a failed upload, a reader
that stopped) leaves no thread behind, because the threads belong to one small shared pool.
Small buffers are handled inline, where a thread hop would cost more than it saves.

The caller must not modify a buffer after handing it over (the store hands over bytes), and must
`wait()` (or `drain()` on an error path) before releasing what the stage's function uses, e.g.
before closing the file it writes to.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

INLINE_BELOW = 64 << 10
_T = TypeVar("_T")
_A = TypeVar("_A", bound=Sized)
_R = TypeVar("_R")
Buffer = bytes | bytearray | memoryview

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """The shared pool, created on first use."""
    global _pool
    with _lock:
        if _pool is None:
            workers = 2 * max(2, os.cpu_count() or 2)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="databright-store")
        return _pool


def _forget_pool_after_fork() -> None:
    """A forked child inherits the pool object but not its threads (nor a sane lock): start over."""
    global _lock, _pool
    _lock = threading.Lock()
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def submit(function: Callable[[_T], _R], argument: _T) -> Future[_R]:
    """Runs `function(argument)` on the shared pool: for work that overlaps a wait, e.g. an fsync."""
    return _executor().submit(function, argument)


class Pipelined(Generic[_A]):
    """Calls `function(data)` for each item in order, returning before a large one is done.

    Items shorter than `inline_below` (by `len`) are handled inline, where a thread hop would
    cost more than it saves. An exception raised by `function` is re-raised by the next call or
    by `wait()`.
    """

    def __init__(self, function: Callable[[_A], object], *, inline_below: int = INLINE_BELOW) -> None:
        self._function = function
        self._inline_below = inline_below
        self._pending: Future[object] | None = None

    def __call__(self, data: _A) -> None:
        self.wait()
        if len(data) < self._inline_below:
            self._function(data)
        else:
            self._pending = _executor().submit(self._function, data)

    def wait(self) -> None:
        """Returns once the call in flight is done, raising what it raised."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def drain(self) -> None:
        """Like `wait`, ignoring errors: for cleanup when something else already failed."""
        with contextlib.suppress(Exception):
            self.wait()


class PipelinedSha256:
    """Like ``hashlib.sha256()``, but `update` returns before a large segment is hashed."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.update = Pipelined[Buffer](self._hash.update)

    def digest(self) -> bytes:
        """The digest of everything passed so far (waits for the segment in flight)."""
        self.update.wait()
        return self._hash.digest()
