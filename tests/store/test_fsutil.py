"""`fsutil.prefetch`: which ranges of a file it asks the kernel to read ahead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from databright.store.lib import fsutil as _fsutil
from databright.store.lib.fsutil import PREFETCH_BYTES, prefetch

pytestmark = pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux/BSD only")


@pytest.fixture
def hints(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    asked: list[tuple[int, int]] = []
    real = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_WILLNEED
        asked.append((offset, length))
        real(fd, offset, length, advice)  # and really ask: the call must be valid

    monkeypatch.setattr(_fsutil.os, "posix_fadvise", record)
    return asked


def _file(tmp_path: Path, size: int) -> int:
    path = tmp_path / f"f{size}"
    path.write_bytes(os.urandom(size))
    return os.open(path, os.O_RDONLY)


@pytest.mark.parametrize("size", [1, 300_000, 1 << 20])
def test_one_range_covers_the_file_up_to_the_limit(tmp_path: Path, hints: list[tuple[int, int]], size: int) -> None:
    fd = _file(tmp_path, size)
    try:
        prefetch(fd)
        prefetch(fd, size=1000)
    finally:
        os.close(fd)
    assert hints == [(0, size), (0, min(size, 1000))]


def test_a_large_file_is_asked_only_up_to_the_limit(tmp_path: Path, hints: list[tuple[int, int]]) -> None:
    fd = _file(tmp_path, PREFETCH_BYTES + 12345)
    try:
        prefetch(fd)
    finally:
        os.close(fd)
    assert hints == [(0, PREFETCH_BYTES)]


def test_an_empty_file_asks_for_nothing(tmp_path: Path, hints: list[tuple[int, int]]) -> None:
    fd = _file(tmp_path, 0)
    try:
        prefetch(fd)
    finally:
        os.close(fd)
    assert hints == []
