"""Reading a file that holds secrets (private keys), refusing one that others could read.

Both the store's master key and a worker's `--key-file` are secrets whose leak costs money, so
they are read the way ssh reads its keys: a file that group or other can read is refused with
the `chmod` that fixes it. The mode is checked with `fstat` on the descriptor that is then read
(opened without following a symbolic link, and without waiting on a FIFO), so nothing can swap
the file between the check and the read, and anything but a regular file (a FIFO, a device) is
refused rather than read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from databright.errors import DataBrightError


def read_private_file(path: Path, error: type[DataBrightError], limit: int) -> bytes:
    """At most `limit` bytes of `path`. A path that is not a regular file, or whose mode lets group
    or other read it, raises `error` (the caller's subsystem family); a missing or unreadable file
    raises the OSError, which each caller words in its own terms."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path} is not a regular file")
        if info.st_mode & 0o077:
            raise error(f"{path} is accessible by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
                        f"run `chmod 600 {path}`")
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
