"""Coordinator and workers on separate hosts (network namespaces, 1 Gbit/s links), run as a person runs them.

One market for the module: anvil and the store on host `chain`, a `coordinator start` process on host `c`
listening on its testbed address (published on-chain, so workers find it there and pin its certificate),
and `worker start` processes on the hosts `w0`..`w2`, each one identity, dialling out to `c`. The worker
processes are shared by the tests (a test that kills one has it started again by the next that needs
it), because starting one costs seconds of imports; jobs are small (an MLP on the digits, a few dozen
units), so the module takes about two minutes on two cores, most of it the keepalive window and restarts.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from databright.chain.compute_market import JobState
from databright.compute.attestation import approve
from databright.compute.buyer import Result, buyer_spec, fetch_result, submit_job
from databright.demo.environment import seeded_request, split_digits
from databright.market.units import UNIT
from databright.testbed import Testbed

from .world import HostProcess, World, market_world

COORDINATOR, BUYER = 10, 11
PORT = 7443
KEEPALIVE_S = 15  # the gateway's keepalive: a ping after 10 s of silence, 5 s for its answer
FEE = UNIT // 5
LONG_EPOCHS = 20  # a job long enough (~50 units of 8 steps) that the faults below land well inside it


@dataclass
class Hosts:
    world: World
    database: str
    folder: Path
    coordinator: HostProcess | None = None
    workers: dict[str, HostProcess] = field(default_factory=dict)  # host -> its `worker start` process

    @property
    def accounts(self) -> list[str]:
        return self.world.chain.accounts()

    def address_on(self, host: str) -> str:
        return self.accounts[WORKER_ACCOUNTS[host][0]]

    def start_coordinator(self) -> HostProcess:
        listen = f"{self.world.testbed.address('c')}:{PORT}"
        proc = HostProcess(self.world, "c", "-a", str(COORDINATOR), "coordinator", "start", "--listen", listen,
                           "--folder", str(self.folder))
        proc.wait_for("published on-chain")
        self.coordinator = proc
        return proc

    def serve(self, *hosts: str) -> None:
        """Makes sure a `worker start` process runs on each of `hosts` (one per host, its dev accounts from
        WORKER_ACCOUNTS); returns once every identity of the ones it started is admitted."""
        started = {}
        for host in hosts:
            if host in self.workers and self.workers[host].proc.poll() is None:
                continue
            self.world.testbed.checked(host, "c")  # the coordinator's published address is reached via the link
            accounts = WORKER_ACCOUNTS[host]
            args = ["-a", str(accounts[0]), "worker", "start"] if len(accounts) == 1 else \
                ["worker", "start", "--identities", f"{accounts[0]}..{accounts[-1]}"]
            started[host] = self.workers[host] = HostProcess(self.world, host, *args, "--stake", "1")
        for host, proc in started.items():
            for _ in WORKER_ACCOUNTS[host]:
                proc.wait_for("serving coordinator")

    def stop(self, *hosts: str) -> None:
        """Ctrl-C to each of the hosts' worker processes at once, then waits for them all."""
        stopping = [self.workers.pop(host) for host in hosts if host in self.workers]
        for proc in stopping:
            if proc.proc.poll() is None:
                proc.proc.send_signal(signal.SIGINT)
        for proc in stopping:
            try:
                proc.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.proc.kill()
                proc.proc.wait(timeout=10)

    def submit(self, **fields: Any) -> int:
        buyer = self.world.market.as_account(BUYER)
        spec = buyer_spec(buyer, {"model": {"kind": "mlp"}, "training": {"epochs": 2, "seed": 3}, "unit_steps": 4,
                                  **fields}, self.database)
        store = self.world.store.client(self.accounts[BUYER])
        return submit_job(buyer, store, spec, UNIT, FEE, self.world.chain.now() + 3600).job_id

    def wait_state(self, job_id: int, state: JobState, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.world.market.compute.job(job_id).state != state:
            if time.monotonic() > deadline:
                said = "".join(self.coordinator.seen[-30:]) if self.coordinator else ""
                pytest.fail(f"job {job_id} never reached {state.name}; the coordinator said:\n{said}")
            time.sleep(0.2)

    def progress(self, job_id: int) -> dict[str, Any]:
        path = self.folder / "jobs" / str(job_id) / "progress.json"
        try:
            return dict(json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or caught mid-rename
            return {}

    def wait_units(self, job_id: int, units: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.progress(job_id).get("units_done", 0) < units:
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} never finished {units} units")
            time.sleep(0.02)

    def assert_paid_pro_rata(self, job_id: int) -> dict[str, int]:
        """The compute fee went out by verified units (the contract floors each share), to these workers only."""
        compute = self.world.market.compute
        units = {w: compute.units_of(job_id, w) for w in compute.job(job_id).workers}
        payouts = compute.payouts(job_id)
        total = sum(units.values())
        assert payouts == {w: FEE * u // total for w, u in units.items() if u > 0}
        assert FEE - len(units) < sum(payouts.values()) <= FEE
        return payouts

    def result(self, job_id: int) -> Result:
        self.wait_state(job_id, JobState.COMPLETED)
        store = self.world.store.client(self.accounts[BUYER])
        return fetch_result(self.world.market.as_account(BUYER), store, job_id)


WORKER_HOSTS = ("w0", "w1", "w2")  # three: a TMR job needs them all; a lone job, one and a spare
WORKER_ACCOUNTS = {"w0": [12], "w1": [13], "w2": [14], "c": [16, 17, 18]}
TMR = {"protections": {"redundancy": 3}}
SPLIT = {"protections": {"split_stages": 2, "micro_batches": 2}}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    home = tmp_path_factory.mktemp("hosts-home")
    with Testbed(["chain", "c", *WORKER_HOSTS]) as testbed, market_world(testbed, home) as world:
        a = world.chain.accounts()
        database = seeded_request(world.market, world.store, split_digits(1).contributions)
        approve(world.market.compute, a[COORDINATOR], a[COORDINATOR])
        built = Hosts(world, database, home / "coordinator")
        built.start_coordinator()
        endpoint = world.market.compute.coordinator_endpoint(a[COORDINATOR])
        assert endpoint is not None and endpoint.url == f"{testbed.address('c')}:{PORT}"
        try:
            built.serve(*WORKER_HOSTS)
            yield built
        finally:
            built.stop(*list(built.workers))
            if built.coordinator is not None:
                built.coordinator.interrupt()
    assert testbed.leftovers() == []


@pytest.mark.parametrize("fault", ["link cut", "process killed"])
def test_a_worker_lost_mid_unit_is_replaced_and_paid_only_for_its_finished_units(hosts: Hosts, fault: str) -> None:
    market, testbed = hosts.world.market, hosts.world.testbed
    hosts.serve(*WORKER_HOSTS)
    host_of = {hosts.address_on(h): h for h in WORKER_HOSTS}
    earned = {a: market.compute.earnings(a) for a in host_of}
    job_id = hosts.submit(training={"epochs": LONG_EPOCHS, "seed": 3}, unit_steps=8)  # ~50 units: plenty still out
    hosts.wait_units(job_id, 3)
    [lost] = market.compute.job(job_id).workers
    if fault == "link cut":
        testbed.cut(host_of[lost])  # packets to and from it now vanish: only keepalive can tell
    else:
        hosts.workers[host_of[lost]].proc.kill()
    lost_at = time.monotonic()
    try:
        while len(market.compute.job(job_id).workers) < 2:  # the replacement is assigned on-chain
            assert time.monotonic() - lost_at < KEEPALIVE_S + 20, "the lost worker was not replaced in time"
            time.sleep(0.1)
        result = hosts.result(job_id)
    finally:
        testbed.restore(host_of[lost])
    job = market.compute.job(job_id)
    [spare] = [w for w in job.workers if w != lost]
    [gone] = [f for f in result.report["faults"] if f["worker"] == lost]
    assert gone["step"] > 0  # lost in the middle of the job, while a unit was out
    units = {w: market.compute.units_of(job_id, w) for w in job.workers}
    per_worker = {w["address"]: w for w in result.report["workers"]}
    assert units[lost] == per_worker[lost]["samples"] > 0  # paid for what it finished, nothing of the lost unit
    assert sum(units.values()) == LONG_EPOCHS * result.report["data"]["train_samples"]  # the lost unit redone once
    payouts = hosts.assert_paid_pro_rata(job_id)
    assert 0 < payouts[lost] < payouts[spare]  # it finished only the first few of the job's units
    for address in (lost, spare):
        assert market.compute.earnings(address) - earned[address] == payouts[address]
    if fault == "link cut":  # the cut-off process is alive and reconnects by itself; start it afresh anyway
        hosts.stop(host_of[lost])


def test_a_partitioned_coordinator_restarts_and_resumes(hosts: Hosts) -> None:
    market, testbed = hosts.world.market, hosts.world.testbed
    hosts.serve(*WORKER_HOSTS)
    job_id = hosts.submit(workers=2, training={"epochs": LONG_EPOCHS, "seed": 3}, unit_steps=8)
    hosts.wait_units(job_id, 2)
    assert hosts.coordinator is not None
    with testbed.partitioned("c"):  # cut off from the chain, the store and every worker...
        time.sleep(1)
        hosts.coordinator.proc.kill()  # ...and then lost altogether
        hosts.coordinator.proc.wait(timeout=30)
    assert market.compute.job(job_id).state == JobState.ACCEPTED
    hosts.start_coordinator()  # the same folder: the same key, pin and checkpoints
    result = hosts.result(job_id)
    job = market.compute.job(job_id)
    assert len(job.workers) == 2 and result.report["faults"] == []  # its workers came back by themselves
    assert sum(market.compute.units_of(job_id, w) for w in job.workers) == \
        LONG_EPOCHS * result.report["data"]["train_samples"]
    hosts.assert_paid_pro_rata(job_id)


def test_tmr_and_split_across_hosts_give_the_one_host_model_bytes(hosts: Hosts) -> None:
    testbed, compute = hosts.world.testbed, hosts.world.market.compute
    workers = WORKER_HOSTS
    hosts.serve(*workers)
    before = {h: testbed.link_bytes(h) for h in workers}
    across = [hosts.submit(**TMR), hosts.submit(**SPLIT)]
    models = [hosts.result(job_id).model for job_id in across]
    used = set()
    for job_id, width in zip(across, (3, 2), strict=True):
        job = compute.job(job_id)
        assert len(job.workers) == width and set(job.workers) <= {hosts.address_on(h) for h in workers}
        used |= {h for h in workers if hosts.address_on(h) in job.workers}
        hosts.assert_paid_pro_rata(job_id)
    for host in used:  # every worker's traffic crossed its own link
        (sent, received), (now_sent, now_received) = before[host], testbed.link_bytes(host)
        assert now_sent - sent > 10_000 and now_received - received > 10_000
    # other identities, all in one process on the coordinator's own host: the same jobs give the same bytes
    hosts.stop(*workers)
    hosts.serve("c")
    alone = [hosts.submit(**TMR), hosts.submit(**SPLIT)]
    assert [hosts.result(job_id).model for job_id in alone] == models
    assert all(set(compute.job(j).workers) <= {hosts.accounts[i] for i in WORKER_ACCOUNTS["c"]} for j in alone)
