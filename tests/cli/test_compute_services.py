"""`coordinator start` and `worker start` as a person runs them: separate processes on one anvil node.

The coordinator publishes its endpoint and certificate on-chain; a worker process hosting two
identities (their keys in a `--key-file`, serving `--coordinator` named by its address) finds it
there, pins the certificate and dials out, each identity on its own authenticated session; the
coordinator trains the job on them; it is killed outright (SIGKILL) mid-job, the workers reconnect
with backoff, and a new coordinator process resumes from the checkpoint, finishes and settles it on-chain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_process import CliProcess

from databright.chain.compute_market import JobState
from databright.chain.connection import connect
from databright.chain.deployment import deploy
from databright.chain.keys import signer
from databright.compute.attestation import approve
from databright.compute.buyer import buyer_spec, submit_job
from databright.demo.environment import demo_store, seeded_request, split_digits
from databright.market import Market
from databright.market.units import UNIT

CLI = [sys.executable, "-m", "databright.cli.main"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service(CliProcess):
    """A CLI process whose output is read line by line in a thread (so waiting never blocks on a pipe)."""

    def __init__(self, *args: str) -> None:
        env = os.environ | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        super().__init__(subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True, env=env))


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for s in reversed(started):
        s.stop()


@pytest.mark.anvil
def test_workers_and_a_coordinator_in_their_own_processes(anvil_rpc: str, services: list[Service],
                                                          tmp_path: Path) -> None:
    chain = connect(anvil_rpc)
    market = Market(chain, deploy(chain))
    a = chain.accounts()
    with demo_store(market) as store:
        database = seeded_request(market, store, split_digits(1).contributions)
        approve(market.compute, a[10], a[10])
        rpc = ["--rpc", anvil_rpc, "--store", store.url]
        folder = tmp_path / "coordinator"
        port = str(free_port())
        listen = ["--listen", f"127.0.0.1:{port}", "--folder", str(folder)]
        # the first coordinator process is killed outright (SIGKILL) once it has checkpointed some units
        first = Service(*rpc, "-a", "10", "coordinator", "start", *listen)
        first.wait_for("published on-chain")
        endpoint = market.compute.coordinator_endpoint(a[10])
        assert endpoint is not None and endpoint.url == f"127.0.0.1:{port}"
        keys = tmp_path / "worker.keys"  # the two identities' keys, as an operator keeps them (0600)
        keys.touch(0o600)
        keys.write_text("".join(signer(chain, a[i]).key.hex() + "\n" for i in (12, 13)))
        services.append(Service(*rpc, "worker", "start", "--stake", "1", "--key-file", str(keys),
                                "--coordinator", a[10]))
        services[-1].wait_for("serving coordinator")
        services[-1].wait_for("serving coordinator")
        assert {w.address for w in market.compute.workers()} == {a[12], a[13]}
        buyer = market.as_account(11)
        spec = buyer_spec(buyer, {"model": {"kind": "mlp"}, "training": {"epochs": 30}, "workers": 2,
                                  "unit_steps": 5}, database)
        job_id = submit_job(buyer, store.client(a[11]), spec, UNIT, UNIT, chain.now() + 3600).job_id
        progress = folder / "jobs" / str(job_id) / "progress.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (progress.exists() and '"units_done": 2' in progress.read_text()):
            time.sleep(0.05)
        first.proc.kill()
        first.proc.wait(timeout=30)
        assert market.compute.job(job_id).state == JobState.ACCEPTED
        done = subprocess.run([*CLI, *rpc, "-a", "10", "coordinator", "start", "--once", *listen],
                              capture_output=True, text=True, timeout=300, env=os.environ | {"COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"job {job_id}: completed" in done.stdout
    job = market.compute.job(job_id)
    assert job.state == JobState.COMPLETED and set(job.workers) == {a[12], a[13]}
    assert sum(market.compute.payouts(job_id).values()) == UNIT
    # the restarted process resumed: nothing was trained twice, so the units paid are exactly 30 epochs
    report = json.loads((folder / "jobs" / str(job_id) / "progress.json").read_text())
    assert report["status"] == "completed"
    assert sum(market.compute.units_of(job_id, w) for w in job.workers) == 30 * 1200  # 1,500 digits, 20% held out
