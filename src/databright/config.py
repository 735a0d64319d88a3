"""Where DataBright keeps its state on this machine, and how settings reach it.

Everything lives under one folder (``DATABRIGHT_HOME``, default ``~/.databright``) so that
separate CLI invocations share deployments and the local node's chain state, and so that a
test can point the whole product at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The state folder, created on first use."""
    path = Path(os.environ.get("DATABRIGHT_HOME", Path.home() / ".databright")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path:
    """The source checkout (the package is installed editable from it)."""
    return Path(__file__).resolve().parents[2]
