"""Throughput and memory of the store server end to end, against the library and a plain file copy.

For each size, on the same disk and loopback, with the server in its own process (so that its
memory is measured alone and client and server do not share an interpreter lock):

  copyfile    shutil.copyfile of a file of that size (the baseline, as cp)
  lib put     BlobStore.put_file in this process (hash + encrypt + durable write)
  lib read    BlobStore.read_to in this process (decrypt + hash + verify + durable write)
  upload      StoreClient.upload_file through the server (sign, send, server stores, client checks CID)
  download    StoreClient.download through the server (server checks rights and decrypts, client
              hashes into a temp file, fsyncs and renames it)

Every input is flushed and dropped from the page cache before an operation reads it. The server's
peak RSS is its VmHWM, reset (/proc/<pid>/clear_refs) before each operation; `peak_mem_mb` is the
largest over all operations, python and its libraries included. The server checks rights on an
embedded chain (ChainAccessPolicy); the bench account reads back what it uploaded.

`upload_ratio_min` / `download_ratio_min` are the smallest, over the sizes, of server throughput
divided by copyfile throughput. Results go to bench/results/store.json as well.

Usage (from the repository root):
  .venv/bin/python bench/store.py [--sizes 1MB,100MB,2GB] [--dir PATH] [--json]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import emit  # bench/ is on sys.path when a script runs
from eth_account import Account
from rich.console import Console
from rich.table import Table
from store_lib import cold, human, parse_args, write_file

from databright.store import BlobStore
from databright.store.client import StoreClient

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "store.json"


def serve(root: Path, port: int) -> None:
    """The server process: an embedded chain with the market deployed, and the store in `root`."""
    from databright.market import Market
    from databright.store.access import ChainAccessPolicy
    from databright.store.server import serve as serve_http

    store = BlobStore(root)
    serve_http("127.0.0.1", port, store, ChainAccessPolicy(Market.open("embedded"), store=store),
               max_upload_bytes=16 << 30, log_level="warning")


class Server:
    """`serve` in a child process, with its memory high-water mark."""

    def __init__(self, root: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(root), str(self.port)])
        deadline = time.monotonic() + 120
        import httpx

        while True:
            try:
                httpx.get(f"{self.url}/info", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the store server did not start") from None
                time.sleep(0.2)
        self.baseline_mb = self.peak_mb()

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def repeats(size: int) -> int:
    """Short runs are noisy (and this machine's disk and CPU are shared): take a median of several."""
    return 9 if size <= 16 * 10**6 else 3 if size <= 256 * 10**6 else 1


def bench_size(work: Path, size: int, server: Server, client: StoreClient) -> list[dict[str, Any]]:
    src, copy, out = work / "source", work / "copy", work / "out"
    write_file(src, size, seed=1)
    lib = BlobStore(work / "lib")
    served = BlobStore(work / "served")  # the server's store, opened here only to delete between runs
    rows: list[dict[str, Any]] = []

    def run(name: str, op: Callable[[], object], cold_input: Path | None, after: Callable[[], object]) -> None:
        timings, peaks = [], []
        for _ in range(repeats(size)):
            if cold_input is not None:
                cold(cold_input)
            os.sync()
            server.reset_peak()
            start = time.perf_counter()
            op()
            timings.append(time.perf_counter() - start)
            peaks.append(server.peak_mb())
            after()
        rows.append({"op": name, "bytes": size, "seconds": statistics.median(timings), "runs": len(timings),
                     "server_peak_rss_mb": max(peaks)})

    cids: list[str] = []
    run("copyfile", lambda: shutil.copyfile(src, copy), src, copy.unlink)
    run("lib put", lambda: cids.append(lib.put_file(src)), src, lambda: lib.delete(cids.pop()))
    cid = lib.put_file(src)
    run("lib read", lambda: lib.read_to(cid, out), lib.root / "blobs" / cid, out.unlink)
    run("upload", lambda: cids.append(client.upload_file(src)), src, lambda: served.delete(cids.pop()))
    assert client.upload_file(src) == cid
    run("download", lambda: client.download(cid, out), served.root / "blobs" / cid, out.unlink)
    baseline = rows[0]["seconds"]
    for row in rows:
        row |= {"mb_per_s": size / row["seconds"] / 1e6, "vs_copyfile": baseline / row["seconds"]}
    served.delete(cid)
    shutil.rmtree(lib.root)
    src.unlink()
    return rows


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    table = Table(title=f"Store server throughput, loopback ({summary['folder']}, {summary['cpus']} CPUs)")
    for column in ("size", "operation", "seconds", "MB/s", "vs copyfile", "server peak RSS MB"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in rows:
        table.add_row(human(row["bytes"]), row["op"], f"{row['seconds']:.4f}", f"{row['mb_per_s']:.0f}",
                      f"{row['vs_copyfile']:.2f}", f"{row['server_peak_rss_mb']:.0f}")
    Console(width=120).print(table)
    print(f"upload_ratio_min {summary['upload_ratio_min']:.2f}, "
          f"download_ratio_min {summary['download_ratio_min']:.2f}, "
          f"server peak RSS {summary['peak_mem_mb']:.0f} MB (idle: {summary['server_idle_rss_mb']:.0f} MB)")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]))
        return
    args, sizes, work = parse_args(__doc__.splitlines()[0] if __doc__ else None, "bench-store-server-")
    server = Server(work / "served")
    try:
        with StoreClient(server.url, Account.create()) as client:
            rows = [row for size in sizes for row in bench_size(work, size, server, client)]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    def ratio(op: str) -> float:
        return min(r["vs_copyfile"] for r in rows if r["op"] == op)

    summary = {
        "folder": str(work.parent), "cpus": os.cpu_count(), "upload_ratio_min": ratio("upload"),
        "download_ratio_min": ratio("download"), "peak_mem_mb": max(r["server_peak_rss_mb"] for r in rows),
        "server_idle_rss_mb": server.baseline_mb,
        "ratios": {human(size): {r["op"]: round(r["vs_copyfile"], 3) for r in rows if r["bytes"] == size}
                   for size in sizes},
    }
    report = {**summary, "results": rows}
    emit(report, RESULTS, args.json, lambda: print_table(rows, summary))


if __name__ == "__main__":
    main()
