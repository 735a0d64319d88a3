"""A market on a testbed: anvil and the store on host `chain`, reached by the other hosts at its address.

The test's own thread is moved onto host `chain` for the whole world (`Testbed.on`), so the test talks to
the chain and the store as a process on that host would, while coordinator and workers run as processes
on their own hosts with `--rpc`/`--store` URLs checked by `Testbed.checked` first. Every process shares
the test's DATABRIGHT_HOME, whose node record (rpc = the chain host's URL) gives them the dev keys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cli_process import CliProcess

from databright.chain.connection import Chain, connect
from databright.chain.deployment import deploy
from databright.chain.node import start_node, stop_node
from databright.demo.environment import DemoStore
from databright.market import Market
from databright.store import BlobStore
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy
from databright.testbed import Testbed

CLI = [sys.executable, "-m", "databright.cli.main"]
CHAIN_PORT = 8545


@dataclass
class World:
    testbed: Testbed
    home: Path
    chain: Chain
    market: Market
    store: DemoStore

    def urls(self, host: str) -> list[str]:
        """`--rpc URL --store URL` for a process on `host`, after checking it reaches `chain` via the testbed."""
        self.testbed.checked(host, "chain")
        return ["--rpc", self.chain.rpc, "--store", self.store.url]

    def env(self) -> dict[str, str]:
        return os.environ | {"DATABRIGHT_HOME": str(self.home), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


@contextmanager
def market_world(testbed: Testbed, home: Path) -> Iterator[World]:
    """Anvil and the store on host `chain`, the market deployed; all stopped again on leaving."""
    old_home = os.environ.get("DATABRIGHT_HOME")
    os.environ["DATABRIGHT_HOME"] = str(home)  # this world's node record, apart from the session's anvil
    address = testbed.address("chain")
    try:
        with testbed.on("chain"):
            info, anvil = start_node(port=CHAIN_PORT, state_dir=home / "anvil", fresh=True, host=address)
            try:
                chain = connect(info.rpc)
                market = Market(chain, deploy(chain))
                blobs = BlobStore(home / "store")
                with ServerThread(create_app(blobs, ChainAccessPolicy(market, store=blobs)), host=address) as server:
                    store = DemoStore(blobs, server.url, market)
                    try:
                        yield World(testbed, home, chain, market, store)
                    finally:
                        store.close()
            finally:
                stop_node()
                anvil.wait(timeout=10)
    finally:
        if old_home is None:
            os.environ.pop("DATABRIGHT_HOME", None)
        else:
            os.environ["DATABRIGHT_HOME"] = old_home
        shutil.rmtree(home / "store", ignore_errors=True)


class HostProcess(CliProcess):
    """A CLI process on a testbed host whose output is read line by line in a thread (waits never block)."""

    def __init__(self, world: World, host: str, *args: str) -> None:
        super().__init__(world.testbed.popen(host, [*CLI, *world.urls(host), *args], stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True, env=world.env()))
