"""The test and demo worker: a production `Trainer` that misbehaves when asked to, hosted in a process
of its own by `demo.pool` (run as `python -m databright.demo.faulty_worker`, configured on stdin).

Faults, only when explicitly given (`fault=`):
  corrupt:P       with probability P per update, silently perturbs one weight after training
  corrupt-share:P with probability P per data-parallel step, perturbs one value of its gradient share
  crash-after:N   the process exits (as a crash would) on its N+1-th work request
  hang-after:N    never answers its N+1-th work request (its identity's thread sleeps; others go on)
  slow:F          takes F times as long as the work needs
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from eth_account import Account

from databright.training.errors import ComputeError
from databright.training.replica import Array
from databright.worker.agent import Endpoint
from databright.worker.host import Host
from databright.worker.trainer import Trainer


@dataclass(frozen=True)
class Fault:
    kind: str
    value: float

    @classmethod
    def parse(cls, text: str | None) -> Fault | None:
        if not text:
            return None
        kind, _, value = text.partition(":")
        if kind not in ("corrupt", "corrupt-share", "crash-after", "hang-after", "slow") or not value:
            raise ComputeError(f"unknown fault {text!r}: use corrupt:P, corrupt-share:P, crash-after:N, "
                               "hang-after:N or slow:F")
        try:
            number = float(value)
        except ValueError:
            raise ComputeError(f"fault {text!r} needs a number after the colon") from None
        if number < 0 or (kind.startswith("corrupt") and number > 1):
            raise ComputeError(f"fault {text!r} is out of range")
        return cls(kind, number)


class FaultyTrainer(Trainer):
    def __init__(self, address: str, fault: str | None = None) -> None:
        super().__init__(address)
        self.fault = Fault.parse(fault)
        self.calls = 0
        self._rng = random.Random(address)  # noqa: S311 - a reproducible fault, not a secret

    def before_work(self) -> None:
        self.calls += 1
        f = self.fault
        if f is None:
            return
        if f.kind == "crash-after" and self.calls > f.value:
            os._exit(17)
        if f.kind == "hang-after" and self.calls > f.value:
            while True:
                time.sleep(3600)

    def after_work(self, started: float) -> None:
        f = self.fault
        if f is not None and f.kind == "slow":
            time.sleep(max(0.0, (f.value - 1.0) * (time.perf_counter() - started)))

    def grad_step(self, grads: Sequence[Array] | None, x: Array, y: Array, batch_total: int) -> dict[str, Any]:
        out = super().grad_step(grads, x, y, batch_total)
        f = self.fault
        if f is not None and f.kind == "corrupt-share" and self._rng.random() < f.value:
            share = out["grads"][0].reshape(-1)
            share[self._rng.randrange(share.size)] += 1e-3
        return out

    def after_update(self) -> None:
        f = self.fault
        if f is None or f.kind != "corrupt" or self._rng.random() >= f.value:
            return
        module = self.stage.layers if self.stage is not None else self._replica().model
        with torch.no_grad():
            flat = next(module.parameters()).view(-1)
            flat[self._rng.randrange(flat.numel())] += 1e-3


def main() -> None:
    """Reads {url, pin, coordinator, chain_id, market, identities: [{key, fault}]} from stdin, serves
    until stdin closes or SIGTERM (keys come on stdin, never on a command line)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    config = json.loads(sys.stdin.readline())
    endpoint = Endpoint(config["url"], config["pin"], config.get("coordinator"), config.get("chain_id"),
                        config.get("market"))
    faults = {Account.from_key(i["key"]).address: i.get("fault") for i in config["identities"]}
    accounts = [Account.from_key(i["key"]) for i in config["identities"]]
    host = Host(accounts, [endpoint], lambda address: FaultyTrainer(address, faults.get(address))).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    host.serve(stop)


if __name__ == "__main__":
    main()
