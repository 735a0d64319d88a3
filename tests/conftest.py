"""Shared fixtures: an isolated DATABRIGHT_HOME per session and one anvil node per worker."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# gRPC's fork handlers can abort a process that forks while a gateway's threads run (the store's fork
# test shares an xdist worker with the compute tests' session gateway); nothing here forks into gRPC
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
os.environ["COLUMNS"] = "200"  # rich wraps at 80 columns when not on a terminal


@pytest.fixture(scope="session", autouse=True)
def databright_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keeps tests away from the user's ~/.databright (deployments, node records)."""
    home = tmp_path_factory.mktemp("databright-home")
    old = os.environ.get("DATABRIGHT_HOME")
    os.environ["DATABRIGHT_HOME"] = str(home)
    os.environ.pop("DATABRIGHT_RPC", None)
    yield home
    if old is None:
        os.environ.pop("DATABRIGHT_HOME", None)
    else:
        os.environ["DATABRIGHT_HOME"] = old


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    return free_port()


@pytest.fixture(scope="session")
def anvil_rpc(tmp_path_factory: pytest.TempPathFactory, databright_home: Path) -> Iterator[str]:
    """A real anvil node for this test worker, started through the product's own code."""
    from databright.chain.node import anvil_path, start_node, stop_node
    from databright.errors import NodeError

    try:
        anvil_path()
    except NodeError as exc:  # pragma: no cover - `make test` installs anvil first
        pytest.fail(str(exc))
    info, proc = start_node(port=free_port(), state_dir=tmp_path_factory.mktemp("anvil"), fresh=True)
    yield info.rpc
    stop_node()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3 server (SeaweedFS) for this test worker, started on first use (see tests/seaweed.py)."""
    from seaweed import running_seaweed

    with running_seaweed(tmp_path_factory.mktemp("seaweed")) as server:
        yield server
