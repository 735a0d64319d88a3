"""Throughput and memory of the blob store library (no server), against a plain file copy.

For each size it times, on the same disk:

  copyfile         shutil.copyfile of a file of that size (the baseline; no fsync, as cp)
  copyfile+fsync   the same, then fsync of the copy (what a durable write costs the disk)
  put_stream       BlobStore.put_stream of a generated stream (hash + encrypt + durable write)
  put_file         BlobStore.put_file of the file on disk
  read_to          BlobStore.read_to into a file (decrypt + hash + verify + durable write)
  open_stream      iterating BlobStore.open_stream and discarding (decrypt + hash, no output)

Every input file is fsynced and dropped from the page cache before an operation reads it, so
all of them read from disk, and dirty pages are flushed between operations. Peak RSS is the
process's high-water mark during each operation (reset through /proc/self/clear_refs on Linux;
elsewhere ru_maxrss, a whole-process peak). psutil is not installed, nor needed.

Files go to a temp folder in DATABRIGHT_HOME (where a real store lives; --dir to change it) and
are removed at the end, also after a failure. Results are written to bench/results/store_lib.json.

Usage (from the repository root):
  .venv/bin/python bench/store_lib.py [--sizes 1MB,100MB,2GB] [--dir PATH] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _report import emit  # bench/ is on sys.path when a script runs
from rich.console import Console
from rich.table import Table

from databright.config import home
from databright.store import BlobStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "store_lib.json"
MIB = 1 << 20
UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}
BLOCK = os.urandom(MIB)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1MB, 100MB, 2GB, 64MiB)")
    return int(float(match.group(1)) * UNITS[match.group(2).upper()])


def generated(size: int, seed: int) -> Iterator[bytes]:
    """`size` bytes in 1 MiB chunks, distinct per chunk and per seed, one chunk alive at a time."""
    for i, start in enumerate(range(0, size, MIB)):
        chunk = (seed * 1_000_003 + i).to_bytes(8, "big") + BLOCK[8:]
        yield chunk[: min(MIB, size - start)]


def write_file(path: Path, size: int, seed: int) -> None:
    with open(path, "wb") as out:
        for chunk in generated(size, seed):
            out.write(chunk)


def cold(path: Path) -> None:
    """Flushes `path` and drops it from the page cache, so the next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(op: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one operation, after flushing earlier writes."""
    os.sync()
    reset_peak_rss()
    start = time.perf_counter()
    op()
    return time.perf_counter() - start, peak_rss_mb()


def copy_fsync(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def drain(store: BlobStore, cid: str) -> int:
    return sum(len(segment) for segment in store.open_stream(cid))


def repeats(size: int) -> int:
    """Small transfers take milliseconds, so one run is mostly noise: take the median of several."""
    return 7 if size <= 16 * 10**6 else 1


def bench_size(work: Path, size: int) -> list[dict[str, Any]]:
    src, copy, out = work / "source", work / "copy", work / "out"
    write_file(src, size, seed=1)
    store = BlobStore(work / "store")
    seeds = itertools.count(2)
    stored: list[str] = []

    def run(
        name: str, op: Callable[[], object], cold_input: Path | None, after: Callable[[], object]
    ) -> dict[str, Any]:
        timings: list[float] = []
        peaks: list[float] = []
        for _ in range(repeats(size)):
            if cold_input is not None:
                cold(cold_input)
            seconds, peak = measure(op)
            timings.append(seconds)
            peaks.append(peak)
            after()
        return {"op": name, "seconds": statistics.median(timings), "peak_rss_mb": max(peaks), "runs": len(timings)}

    # Every put run stores new content and is deleted afterwards: a repeated put of stored content
    # would only find it present and skip the commit.
    results = [
        run("copyfile", lambda: shutil.copyfile(src, copy), src, copy.unlink),
        run("copyfile+fsync", lambda: copy_fsync(src, copy), src, copy.unlink),
        run(
            "put_stream",
            lambda: stored.append(store.put_stream(generated(size, next(seeds)))),
            None,
            lambda: store.delete(stored.pop()),
        ),
        run("put_file", lambda: stored.append(store.put_file(src)), src, lambda: store.delete(stored.pop())),
    ]
    cid = store.put_file(src)  # untimed: the blob the reads use
    blob = store.root / "blobs" / cid
    results += [
        run("read_to", lambda: store.read_to(cid, out), blob, out.unlink),
        run("open_stream", lambda: drain(store, cid), blob, lambda: None),
    ]
    assert store.size(cid) == size
    baseline = results[0]["seconds"]
    for row in results:
        row |= {"bytes": size, "mb_per_s": size / row["seconds"] / 1e6, "vs_copyfile": baseline / row["seconds"]}
    shutil.rmtree(work / "store")
    src.unlink()
    return results


def human(size: int) -> str:
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


def print_table(results: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    table = Table(title=f"BlobStore library throughput ({meta['folder']}, {meta['cpus']} CPUs)")
    for column in ("size", "operation", "seconds", "MB/s", "vs copyfile", "peak RSS MB"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in results:
        table.add_row(
            human(row["bytes"]),
            row["op"],
            f"{row['seconds']:.3f}",
            f"{row['mb_per_s']:.0f}",
            f"{row['vs_copyfile']:.2f}",
            f"{row['peak_rss_mb']:.0f}",
        )
    Console(width=120).print(table)
    print(
        f"peak RSS is the high-water mark per operation ({meta['rss_method']}); python + libraries alone: "
        f"{meta['baseline_rss_mb']:.0f} MB"
    )


def parse_args(description: str | None, prefix: str,
               sizes: str = "1MB,100MB,2GB") -> tuple[argparse.Namespace, list[int], Path]:
    """The options the store benches take; returns them, the sizes in bytes and a fresh work folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default=sizes, help=f"comma-separated sizes (default {sizes})")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temp files (default DATABRIGHT_HOME)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    folder = args.dir if args.dir is not None else home()
    return args, sizes, Path(tempfile.mkdtemp(prefix=prefix, dir=folder))


def main() -> None:
    args, sizes, work = parse_args(__doc__.splitlines()[0] if __doc__ else None, "bench-store-")
    try:
        reset = reset_peak_rss()
        meta: dict[str, Any] = {
            "folder": str(work.parent),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "rss_method": "VmHWM, reset per operation" if reset else "ru_maxrss, whole process",
            "baseline_rss_mb": peak_rss_mb(),
            "segment_size": BlobStore(work / "probe").segment_size,
        }
        results = [row for size in sizes for row in bench_size(work, size)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {**meta, "results": results}
    emit(report, RESULTS, args.json, lambda: print_table(results, meta))


if __name__ == "__main__":
    main()
