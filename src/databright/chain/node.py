"""The local chain node: Foundry's anvil, with its state kept on disk.

`databright node` runs anvil so that separate CLI commands (and later the oracle, the
coordinator and workers in their own processes) share one chain. anvil dumps its state to
``$DATABRIGHT_HOME/node/state.json`` every second and on exit, and loads it on start, so a
restarted node still has the market.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from databright.chain.connection import DEV_ACCOUNTS
from databright.config import home, repo_root
from databright.errors import NodeError

ANVIL_RELATIVE = Path(".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


def anvil_path() -> Path:
    """anvil from `DATABRIGHT_ANVIL`, the Makefile's `.tools` folder, or the PATH."""
    candidates = [
        os.environ.get("DATABRIGHT_ANVIL"), str(repo_root() / ANVIL_RELATIVE), shutil.which("anvil"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise NodeError("anvil not found: run `make setup` (it installs anvil into .tools/)")


@dataclass(frozen=True)
class NodeInfo:
    pid: int
    port: int
    rpc: str
    state_file: str
    accounts_file: str = ""


def _record() -> Path:
    return home() / "node.json"


def _wait_ready(rpc: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 2}))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise NodeError(f"anvil exited with code {proc.returncode} before answering on {rpc}")
        try:
            if w3.is_connected():
                return
        except Exception:  # noqa: S110 - not up yet (any connection error): poll again
            pass
        time.sleep(0.1)
    proc.terminate()
    raise NodeError(f"anvil did not answer on {rpc} within {timeout:.0f} s")


def running_node() -> NodeInfo | None:
    """The node this folder's record points at, if its process is alive."""
    if not _record().exists():
        return None
    info = NodeInfo(**json.loads(_record().read_text()))
    try:
        os.kill(info.pid, 0)
    except OSError:
        return None
    return info


def start_node(
    port: int = 8545, state_dir: Path | None = None, fresh: bool = False, host: str = "127.0.0.1"
) -> tuple[NodeInfo, subprocess.Popen[bytes]]:
    """Starts anvil in the background on `host`, waits until it answers, and records it.

    `host` is another address than loopback only on a testbed host (`databright.testbed`), where the
    workers on other simulated hosts reach the chain at that host's address.
    """
    existing = running_node()
    if existing is not None:
        raise NodeError(
            f"a node is already running at {existing.rpc} (pid {existing.pid}): `databright node --stop`"
        )
    state_dir = state_dir or home() / "node"
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = state_dir / "state.json"
    if fresh and state_file.exists():
        state_file.unlink()
    # --config-out writes the dev accounts' keys where this node's users can sign with them
    cmd = [str(anvil_path()), "--port", str(port), "--host", host,
           "--state", str(state_file), "--state-interval", "1", "--config-out", str(state_dir / "accounts.json"),
           "--accounts", str(DEV_ACCOUNTS)]
    with (state_dir / "anvil.log").open("ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603 - our own anvil
    rpc = f"http://{host}:{port}"
    _wait_ready(rpc, proc)
    info = NodeInfo(pid=proc.pid, port=port, rpc=rpc, state_file=str(state_file),
                    accounts_file=str(state_dir / "accounts.json"))
    _record().write_text(json.dumps(info.__dict__))
    return info, proc


def stop_node(timeout: float = 10.0) -> NodeInfo:
    """Stops the recorded node; anvil writes its state on the way out."""
    info = running_node()
    if info is None:
        raise NodeError("no databright node is running")
    os.kill(info.pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(info.pid, 0)
        except OSError:
            break
        _reap(info.pid)
        time.sleep(0.1)
    else:
        os.kill(info.pid, signal.SIGKILL)
    forget_node()
    return info


def forget_node() -> None:
    """Drops the record of a node that has exited."""
    _record().unlink(missing_ok=True)


def _reap(pid: int) -> None:
    # When this process started the node, its exit must be collected or it lingers as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
