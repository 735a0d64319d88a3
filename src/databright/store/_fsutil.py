"""Small I/O helpers shared by the store's modules: full reads, full writes, durable renames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes, short only at end of stream (raw files may return less per call)."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Writes every byte to a raw descriptor; os.write may write less than asked."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(folder: Path) -> None:
    """Makes a new directory entry durable: a rename or link is only on disk after this."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
