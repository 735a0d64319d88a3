"""The worker agent imports only the protocol and the training arithmetic, nothing of the coordinator."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).resolve().parents[2] / "src/databright/worker"
ALLOWED = ("databright.protocol", "databright.training", "databright.worker", "databright.errors")


def test_no_worker_module_names_anything_but_protocol_and_training() -> None:
    for path in WORKER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if name.startswith("databright"):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"


def test_importing_the_worker_loads_nothing_of_the_coordinator() -> None:
    code = ("import sys, json, databright.worker.agent, databright.worker.host, databright.worker.service; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('databright'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True).stdout)
    assert "databright.worker.agent" in loaded
    strays = [m for m in loaded if m != "databright" and not m.startswith(ALLOWED)]
    assert strays == []
