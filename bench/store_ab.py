"""Is each of the store's speed-ups worth keeping? An interleaved A/B of the whole stack, with and without it.

A speed-up stays only if, in the same run, it is worth at least 10 % of the end-to-end time of a
1 MB or a 256 MB upload or download (the rule of issue 18). Each variant is a whole stack of its
own: a client process and its server process (`bench/store.py`'s server: embedded chain, rights
checked), both with the one speed-up switched off by `CANDIDATES[name]`, or none for "base".
The rounds interleave the variants op by op, in a new random order each round, so the machine's
drift slows them alike; every input is flushed and dropped from the page cache before an operation
reads it. Reported per (size, op): the median seconds of each variant and `gain` = (without -
with) / with, i.e. how much longer the operation takes without the speed-up, as a share of its
time with it. A second, identical "base again" stack measures the noise of the run: a gain is
only real where it is larger than the two bases' difference (`noise`), and a speed-up is kept
where some gain is >= 10 % and above the noise.

Usage (from the repository root):
  .venv/bin/python bench/store_ab.py [--sizes 1MB,256MB] [--only NAME,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import emit  # bench/ is on sys.path when a script runs
from rich.console import Console
from rich.table import Table
from store_lib import cold, human, parse_size, write_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "store_ab.json"
KEEP_FROM = 0.10


def _no_pipeline() -> None:
    """Every Pipelined stage and `submit` inline: no helper threads beside the caller's."""
    from concurrent.futures import Future

    from databright.store.lib import pipeline

    class Inline:
        def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
            done: Future[Any] = Future()
            try:
                done.set_result(function(*args))
            except BaseException as exc:
                done.set_exception(exc)
            return done

    pipeline._executor = lambda: Inline()  # type: ignore[assignment,return-value]


def _no_prefetch() -> None:
    """No read-ahead hint for a read's blob in the server (`LocalBackend.prefetch`)."""
    from databright.store.lib import local

    local.prefetch = lambda fd, *a, **k: None  # type: ignore[attr-defined]


def _no_cid_fast_path() -> None:
    """CIDs parsed and spelled by the multiformats library."""
    from databright import cid
    from databright.store.lib import backend, blobstore, blobstream
    from databright.store.server import access

    for module in (backend, blobstore, blobstream, access):
        if hasattr(module, "cid_digest"):
            module.cid_digest = cid.digest_from_cid  # type: ignore[attr-defined]
        if hasattr(module, "cid_text"):
            module.cid_text = cid.cid_from_digest  # type: ignore[attr-defined]


# The speed-ups the code keeps. The run of 2026-12-03 (issue 18) also measured, and so removed:
# keeping freed memory (mallopt), the whole-body path for small uploads, sealing large uploads'
# pieces as received, the uvicorn HTTP protocol subclass, and the client's read-ahead of an upload.
CANDIDATES: dict[str, Callable[[], None]] = {
    "helper threads (pipeline)": _no_pipeline,
    "read-ahead hints (prefetch)": _no_prefetch,
    "CID fast path": _no_cid_fast_path,
}


BASES = ("base", "base again")


def apply(variant: str) -> None:
    if variant not in BASES:
        CANDIDATES[variant]()


# -- the two processes of one variant ---------------------------------------------------------

def server_main(variant: str, root: Path, port: int) -> None:
    apply(variant)
    from store import serve  # bench/store.py's server (embedded chain, rights checked)

    serve(root, port, [])


def worker_main(variant: str, root: Path) -> None:
    """One variant's client: starts its server, then times the commands read from stdin."""
    apply(variant)
    import store as bench_store
    from eth_account import Account

    from databright.store import BlobStore
    from databright.store.client import StoreClient

    server = bench_store.Server.__new__(bench_store.Server)
    _start(server, root, variant)
    served = BlobStore(root)
    out = root.parent / f"out-{os.getpid()}"
    try:
        with StoreClient(server.url, Account.create()) as client:
            for line in sys.stdin:
                command, argument = line.split(maxsplit=1)
                path = Path(argument.strip())
                if command == "keep":  # stored once, for the downloads
                    print(client.upload_file(path), flush=True)
                    continue
                if command == "up":
                    cold(path)
                    os.sync()
                    start = time.perf_counter()
                    cid = client.upload_file(path)
                    took = time.perf_counter() - start
                    served.delete(cid)
                else:  # "down CID"
                    cid = argument.strip()
                    cold(root / "blobs" / cid)
                    os.sync()
                    start = time.perf_counter()
                    client.download(cid, out)
                    took = time.perf_counter() - start
                    out.unlink()
                print(took, flush=True)
    finally:
        server.stop()


def _start(server: Any, root: Path, variant: str) -> None:
    """`bench/store.py`'s Server, started with this variant's patch applied in the server too."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        server.port = int(s.getsockname()[1])
    server.url = f"http://127.0.0.1:{server.port}"
    server.proc = subprocess.Popen([sys.executable, __file__, "--serve", variant, str(root), str(server.port)])
    deadline = time.monotonic() + 180
    while True:
        try:
            httpx.get(f"{server.url}/info", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {variant} server did not start") from None
            time.sleep(0.2)


class Worker:
    def __init__(self, variant: str, work: Path) -> None:
        self.variant = variant
        root = work / f"variant-{len(list(work.glob('variant-*')))}"
        root.mkdir()
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", variant, str(root / "served")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise SystemExit(f"the {self.variant} worker died")
        return answer.strip()

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def rounds(size: int) -> int:
    return 41 if size <= 16 * 10**6 else 7


def run(work: Path, sizes: list[int], variants: list[str]) -> list[dict[str, Any]]:
    workers = [Worker(v, work) for v in variants]
    rows: list[dict[str, Any]] = []
    try:
        for size in sizes:
            up, kept = work / "up", work / "kept"
            write_file(up, size, seed=1)
            write_file(kept, size, seed=2)
            cids = [w.ask(f"keep {kept}") for w in workers]
            times: dict[tuple[str, str], list[float]] = {}
            shuffle = random.Random(size)
            for _ in range(rounds(size)):
                order = list(zip(workers, cids, strict=True))
                shuffle.shuffle(order)
                for w, cid in order:
                    times.setdefault((w.variant, "upload"), []).append(float(w.ask(f"up {up}")))
                    times.setdefault((w.variant, "download"), []).append(float(w.ask(f"down {cid}")))
            for op in ("upload", "download"):
                base = statistics.median(times[("base", op)])
                for v in variants:
                    median = statistics.median(times[(v, op)])
                    rows.append({"size": size, "op": op, "variant": v, "seconds": median,
                                 "runs": len(times[(v, op)]), "gain": (median - base) / base})
            up.unlink()
            kept.unlink()
    finally:
        for w in workers:
            w.stop()
    return rows


def verdicts(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    def gains(v: str) -> dict[str, float]:
        return {f"{human(r['size'])} {r['op']}": round(r["gain"], 3) for r in rows if r["variant"] == v}

    noise = {k: abs(g) for k, g in gains("base again").items()}
    out: dict[str, dict[str, Any]] = {"base again": {"gains": gains("base again"), "keep": None}}
    for v in {r["variant"] for r in rows} - set(BASES):
        mine = gains(v)
        out[v] = {"gains": mine, "keep": any(g >= KEEP_FROM and g > noise[k] for k, g in mine.items())}
    return out


def print_table(rows: list[dict[str, Any]], verdict: dict[str, dict[str, Any]]) -> None:
    table = Table(title="Store speed-ups, interleaved A/B of whole stacks (medians; gain = without/with - 1)")
    keys = sorted({(r["size"], r["op"]) for r in rows})
    table.add_column("variant (switched off)", justify="left")
    for size, op in keys:
        table.add_column(f"{human(size)} {op}", justify="right")
    table.add_column("keep (>= 10 %)", justify="right")
    for v in dict.fromkeys(r["variant"] for r in rows):
        cells = []
        for size, op in keys:
            [r] = [r for r in rows if (r["variant"], r["size"], r["op"]) == (v, size, op)]
            cells.append(f"{r['seconds'] * 1000:.1f} ms" + ("" if v == "base" else f" {r['gain']:+.0%}"))
        keep = verdict.get(v, {}).get("keep")
        table.add_row(v, *cells, "" if keep is None else ("yes" if keep else "no"))
    Console(width=160).print(table)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        server_main(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1MB,256MB")
    parser.add_argument("--only", default=",".join(CANDIDATES), help="candidates to switch off, comma-separated")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    variants = [*BASES, *[c for c in args.only.split(",") if c]]
    unknown = set(variants) - {*BASES, *CANDIDATES}
    if unknown:
        raise SystemExit(f"unknown candidates: {sorted(unknown)}; known: {sorted(CANDIDATES)}")
    work = Path(tempfile.mkdtemp(prefix="bench-store-ab-", dir=args.dir))
    try:
        rows = run(work, sizes, variants)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    verdict = verdicts(rows)
    report = {"keep_from": KEEP_FROM, "cpus": os.cpu_count(), "verdicts": verdict, "results": rows}
    emit(report, RESULTS, args.json, lambda: print_table(rows, verdict))
    if not args.json:
        print(json.dumps({v: d["keep"] for v, d in verdict.items() if d["keep"] is not None}))


if __name__ == "__main__":
    main()
