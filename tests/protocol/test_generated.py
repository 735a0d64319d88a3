"""The committed generated code is exactly what the documented command makes from worker.proto."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_regenerating_the_protocol_gives_the_committed_bytes(tmp_path: Path) -> None:
    proto = tmp_path / "databright" / "protocol"
    proto.mkdir(parents=True)
    shutil.copy(ROOT / "src/databright/protocol/worker.proto", proto / "worker.proto")
    # the command in worker.proto's header, run on a copy
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
                    f"--pyi_out={tmp_path}", str(proto / "worker.proto")], check=True)
    for name in ("worker_pb2.py", "worker_pb2.pyi"):
        assert (proto / name).read_bytes() == (ROOT / "src/databright/protocol" / name).read_bytes(), name
