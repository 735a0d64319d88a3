"""The README's manual flow: separate `databright` processes against `databright node`.

This is what a newcomer does by hand, so it runs the installed console script in fresh
processes, and restarts the node in the middle to show that the market survives.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from databright.cid import cid_for_bytes

pytestmark = pytest.mark.anvil
EXE = str(Path(sys.executable).parent / "databright")


def _run(env: dict[str, str], *args: str, code: int = 0) -> str:
    proc = subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "Traceback" not in out
    return out


def test_manual_flow_survives_a_node_restart(tmp_path: Path, free_port: int) -> None:
    env = {**os.environ, "DATABRIGHT_HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("DATABRIGHT_RPC", None)
    port = str(free_port)
    assert "node running at" in _run(env, "node", "--detach", "--port", port)
    try:
        assert "already running" in _run(env, "node", "--detach", "--port", port, code=3)
        accounts = re.findall(r"0x[0-9a-fA-F]{40}", _run(env, "accounts"))
        assert len(accounts) >= 8
        assert "deployed on chain 31337" in _run(env, "deploy")
        _run(env, "request", "create", "digits", "--spec", cid_for_bytes(b"spec"), "--period", "3",
             "--curator", f"{accounts[1]}=100", "--curator", f"{accounts[2]}=50")
        _run(env, "-a", "1", "delegate", "0")
        data = cid_for_bytes(b"some digits")
        _run(env, "-a", "3", "propose", "0", data, "--samples", "100", "--shares", "10")
        _run(env, "-a", "1", "vote", "1", "yes", "--reason", "ok")
        assert "voting not over" in _run(env, "execute", "1", code=4)
        _run(env, "mine", "3")
        _run(env, "execute", "1")

        assert "stopped the node" in _run(env, "node", "--stop")
        assert "no chain answers" in _run(env, "--rpc", f"http://127.0.0.1:{port}", "request", "list", code=3)
        _run(env, "node", "--detach", "--port", port)
        shown = _run(env, "request", "show", "0")
        assert data in shown and accounts[3] in shown
        assert "executed" in _run(env, "proposals")
    finally:
        subprocess.run([EXE, "node", "--stop"], env=env, capture_output=True, timeout=30)
