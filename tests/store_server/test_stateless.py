"""Two `databright store serve` processes on one bucket and one master key serve each other's uploads.

Real processes, as an operator runs them, on an anvil node (the chain must be reachable from every
server) and the test worker's SeaweedFS. One is killed (SIGKILL) in the middle of a large upload:
nothing becomes visible, the other keeps serving, and the multipart upload the dead one left is
removed by the sweep a (re)started server runs at start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_process import CliProcess
from conftest import free_port
from seaweed import BUCKET, SeaweedS3

from databright.chain.connection import connect
from databright.chain.deployment import deploy
from databright.chain.keys import signer
from databright.cid import cid_for_bytes
from databright.store import AccessDenied
from databright.store.client import StoreClient
from databright.store.lib.keys import ENV_KEY, ENV_KEY_FILE, write_new_key
from databright.store.lib.s3 import S3Backend

CLI = [sys.executable, "-m", "databright.cli.main"]
MIB = 1 << 20


class Server(CliProcess):
    """A `databright store serve` process; `url` once it answers."""

    def __init__(self, rpc: str, port: int, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in (ENV_KEY, ENV_KEY_FILE)} | {"PYTHONUNBUFFERED": "1"}
        self.url = f"http://127.0.0.1:{port}"
        super().__init__(subprocess.Popen([*CLI, "--rpc", rpc, "store", "serve", "--port", str(port), *args],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))

    def stop(self, timeout: float = 20) -> None:
        super().stop(timeout)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in reversed(started):
        s.stop()


@pytest.mark.anvil
def test_two_servers_on_one_bucket_serve_each_others_uploads(
    anvil_rpc: str, seaweed: SeaweedS3, servers: list[Server], tmp_path: Path
) -> None:
    chain = connect(anvil_rpc)
    deploy(chain)
    key_file = tmp_path / "master.key"
    write_new_key(key_file)
    prefix = seaweed.prefix()
    backend = S3Backend(seaweed.client(), BUCKET, prefix)
    ports = [free_port(), free_port()]

    def start(n: int, *extra: str) -> Server:
        # each its own store folder: nothing but the bucket and the key file is shared
        server = Server(anvil_rpc, ports[n], "--root", str(tmp_path / f"root{n}"), "--backend",
                        f"s3://{BUCKET}/{prefix}", "--s3-endpoint", seaweed.endpoint,
                        "--master-key-file", str(key_file), *extra)
        servers.append(server)
        server.wait_for("Uvicorn running on")
        return server

    a, b = start(0), start(1)
    uploader, stranger = chain.accounts()[4], chain.accounts()[5]
    small, large = b"uploaded through A " * 1000, os.urandom(20 * MIB)
    source = tmp_path / "large"
    source.write_bytes(large)
    with StoreClient(a.url, signer(chain, uploader)) as to_a, StoreClient(b.url, signer(chain, uploader)) as to_b:
        cid_small, cid_large = to_a.upload_bytes(small), to_a.upload_file(source)
        assert to_b.get_bytes(cid_small) == small  # B knows A's uploader: the records are in the bucket
        assert to_b.get_bytes(cid_large) == large
        cid_b = to_b.upload_bytes(b"through B")
        assert to_a.get_bytes(cid_b) == b"through B"
    with StoreClient(b.url, signer(chain, stranger)) as other, pytest.raises(AccessDenied):
        other.get_bytes(cid_small)  # the rights are the same on both: a stranger reads neither
    local = [tmp_path / f"root{n}" / "blobs" for n in (0, 1)]
    assert not any(p.exists() and any(p.iterdir()) for p in local)  # no blob on either server's disk

    # A is killed in the middle of a large upload
    before = sorted(backend.list())
    big = tmp_path / "big"
    big.write_bytes(os.urandom(60 * MIB))
    failed: list[BaseException] = []

    def slow_upload() -> None:
        def pause(done: int, total: int) -> None:
            if done > 40 * MIB:
                time.sleep(0.05)

        try:
            with StoreClient(a.url, signer(chain, uploader)) as client:
                client.upload_file(big, progress=pause)
        except Exception as exc:  # the server died under it
            failed.append(exc)

    uploading = threading.Thread(target=slow_upload)
    uploading.start()
    deadline = time.monotonic() + 60
    while not backend.pending_uploads():
        assert time.monotonic() < deadline and uploading.is_alive(), "A never started a multipart upload"
        time.sleep(0.02)
    a.proc.kill()
    a.proc.wait()
    uploading.join(timeout=60)
    assert failed and sorted(backend.list()) == before  # nothing of it is visible
    assert len(backend.pending_uploads()) == 1
    with StoreClient(b.url, signer(chain, uploader)) as to_b:
        assert to_b.get_bytes(cid_small) == small  # B keeps serving
        assert to_b.upload_bytes(b"after the kill") in backend.list()
    time.sleep(1.0)
    start(0, "--s3-stale-after", "0.5")  # a server (re)started sweeps dead uploads first
    assert backend.pending_uploads() == []
    assert sorted(backend.list()) == sorted({*before, cid_for_bytes(b"after the kill")})
