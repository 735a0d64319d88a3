"""A simulated pool of workers on this machine, for the demo, tests and benchmarks: worker
processes (`faulty_worker`), each hosting some identities, that dial the coordinator's gateway."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Sequence

from eth_account import Account

from databright.compute.errors import ComputeError
from databright.compute.gateway import Gateway
from databright.compute.handle import WorkerHandle

Launch = Callable[[int, list[str]], "subprocess.Popen[str]"]


def dev_keys(names: Sequence[str]) -> list[str]:
    """Deterministic private keys for simulated identities (test and demo only: derived from names)."""
    return ["0x" + hashlib.sha256(f"databright-sim-worker:{n}".encode()).hexdigest() for n in names]


def address_of(key: str) -> str:
    return str(Account.from_key(key).address)


class HostedPool:
    """Worker processes holding identities between them; `stop()` ends them."""

    def __init__(self, gateway: Gateway, keys: Sequence[str], processes: int = 1,
                 faults: dict[str, str] | None = None, timeout: float = 180.0,
                 launch: Launch | None = None) -> None:
        """`launch(i, argv)` starts worker process i (stdin a text pipe), e.g. on a testbed host
        (`databright.testbed`); by default it is a child process on this machine."""
        count = max(1, min(processes, len(keys)))
        shares = [list(keys[i::count]) for i in range(count)]
        me = gateway.identity
        self.procs: list[subprocess.Popen[str]] = []
        for share in shares:
            config = {"url": gateway.url, "pin": gateway.cert_sha256, "coordinator": me.address,
                      "chain_id": me.chain_id, "market": me.market,
                      "identities": [{"key": k, "fault": (faults or {}).get(address_of(k))} for k in share]}
            argv = [sys.executable, "-m", "databright.demo.faulty_worker"]
            if launch is not None:
                proc = launch(len(self.procs), argv)
            else:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, text=True)  # noqa: S603 - our own module
            if proc.stdin is not None:  # always, with stdin=PIPE
                proc.stdin.write(json.dumps(config) + "\n")
                proc.stdin.flush()
            self.procs.append(proc)
        try:
            self.handles = gateway.wait_for([address_of(k) for k in keys], timeout)
        except TimeoutError as exc:
            self.stop()
            raise ComputeError(f"simulated workers did not connect: {exc}") from exc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def spawn(gateway: Gateway, keys: Sequence[str], processes: int = 1,
          faults: dict[str, str] | None = None) -> tuple[list[WorkerHandle], HostedPool]:
    pool = HostedPool(gateway, keys, processes, faults)
    return pool.handles, pool
