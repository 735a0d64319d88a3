"""What `bench/store.py` measures besides time: CPU per GB against the cryptography's floor, pinning.

Why: on a machine where client and server share two cores, a transfer's time says more about the
machine than about the server. The server's CPU seconds per GB, set against the least any store
sealing blobs this way must spend (one SHA-256 pass and one AES-GCM pass over every byte, on one
core, measured in the same run), says how much it spends beyond the cryptography; a run with the
client and the server pinned to different cores (taskset) shows the transfer without the two
fighting over one core.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEGMENT = 1 << 20
TICKS = os.sysconf("SC_CLK_TCK")


def floor_s_per_gb(megabytes: int = 256, repeats: int = 3) -> dict[str, float]:
    """CPU seconds per GB (10^9 bytes) of one SHA-256 pass and of one AES-GCM pass, in this thread.

    CPU time of the thread (`time.thread_time`), not wall time: on a busy machine the wall clock
    also counts the time the thread waited for a core, and the server's figure it is compared
    with is CPU time too.
    """
    data = os.urandom(SEGMENT) * megabytes
    view = memoryview(data)
    aead, nonce = AESGCM(os.urandom(32)), bytes(12)
    sha, gcm = [], []
    for _ in range(repeats):
        start = time.thread_time()
        hashlib.sha256(data).digest()
        sha.append(time.thread_time() - start)
        start = time.thread_time()
        for i in range(0, len(data), SEGMENT):
            aead.encrypt(nonce, view[i : i + SEGMENT], None)
        gcm.append(time.thread_time() - start)
    scale = 1e9 / len(data)
    sha256, aes_gcm = statistics.median(sha) * scale, statistics.median(gcm) * scale
    return {"sha256_s_per_gb": sha256, "aes_gcm_s_per_gb": aes_gcm, "floor_s_per_gb": sha256 + aes_gcm}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def can_pin() -> bool:
    return (os.cpu_count() or 1) >= 2 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0


def pin(pid: int, cpus: str) -> None:
    """Every thread of `pid` onto `cpus` (taskset -a: threads started later inherit it)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, capture_output=True)


class Pinned:
    """Client (this process) on core 0 and `server_pids` on core 1 for the block, then all cores again."""

    def __init__(self, *server_pids: int) -> None:
        self.servers = server_pids
        self.all = f"0-{(os.cpu_count() or 1) - 1}"

    def __enter__(self) -> None:
        pin(os.getpid(), "0")
        for pid in self.servers:
            pin(pid, "1")

    def __exit__(self, *exc: object) -> None:
        for pid in (os.getpid(), *self.servers):
            pin(pid, self.all)
