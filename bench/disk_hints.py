"""How soon a cold file is in memory when its reading is asked for as one range or in pieces.

The store's client asks the kernel to start reading an upload's file (`_fsutil.prefetch`) from
a helper thread while it signs and sends the request. This measures the choice of how to ask:
for each size and piece size, a cold file (flushed and dropped from the page cache) is hinted
with POSIX_FADV_WILLNEED in pieces of that size, then read whole. It reports how long asking
took (`ask_us`, the time the helper thread is busy) and when the whole file had been read
(`read_us`, counted from the first hint: what an upload waits for). "one range" is a single
hint for the whole file. Medians over interleaved rounds, as the disk's speed drifts.

Usage (from the repository root):
  .venv/bin/python bench/disk_hints.py [--sizes 1MB,4MB] [--dir PATH] [--json]
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from _report import emit  # bench/ is on sys.path when a script runs
from rich.console import Console
from rich.table import Table
from store_lib import cold, human, parse_args, write_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "disk_hints.json"
PIECES = (0, 512 << 10, 256 << 10, 128 << 10, 64 << 10)  # 0: one range
ROUNDS = 25


def hinted_read(path: Path, size: int, piece: int) -> tuple[float, float]:
    """(seconds spent asking, seconds until the whole file was read), both from the first hint."""
    fd = os.open(path, os.O_RDONLY)
    try:
        start = time.perf_counter()
        step = piece or size
        for offset in range(0, size, step):
            os.posix_fadvise(fd, offset, min(step, size - offset), os.POSIX_FADV_WILLNEED)
        asked = time.perf_counter() - start
        done = 0
        while done < size:
            got = len(os.pread(fd, min(4 << 20, size - done), done))
            if not got:
                break
            done += got
        return asked, time.perf_counter() - start
    finally:
        os.close(fd)


def bench_size(work: Path, size: int) -> list[dict[str, Any]]:
    path = work / "cold"
    write_file(path, size, seed=3)
    asks: dict[int, list[float]] = {piece: [] for piece in PIECES}
    reads: dict[int, list[float]] = {piece: [] for piece in PIECES}
    for _ in range(ROUNDS):
        for piece in PIECES:
            cold(path)
            os.sync()
            asked, read = hinted_read(path, size, piece)
            asks[piece].append(asked)
            reads[piece].append(read)
    path.unlink()
    one = statistics.median(reads[0])
    return [{"bytes": size, "piece": piece or None, "ask_us": statistics.median(asks[piece]) * 1e6,
             "read_us": statistics.median(reads[piece]) * 1e6,
             "vs_one_range": one / statistics.median(reads[piece]), "rounds": ROUNDS} for piece in PIECES]


def print_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Cold reads hinted as one range or in pieces (medians of interleaved rounds)")
    for column in ("size", "hinted as", "ask µs", "read µs", "speed vs one range"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(human(row["bytes"]), f"{row['piece'] >> 10} KiB pieces" if row["piece"] else "one range",
                      f"{row['ask_us']:.0f}", f"{row['read_us']:.0f}", f"{row['vs_one_range']:.2f}")
    Console(width=120).print(table)


def main() -> None:
    args, sizes, work = parse_args(__doc__.splitlines()[0] if __doc__ else None, "bench-disk-hints-", "1MB,4MB")
    if not hasattr(os, "posix_fadvise"):
        raise SystemExit("posix_fadvise is not available here: nothing to measure")
    try:
        rows = [row for size in sizes if size > 0 for row in bench_size(work, size)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit({"folder": str(work.parent), "results": rows}, RESULTS, args.json, lambda: print_table(rows))


if __name__ == "__main__":
    main()
