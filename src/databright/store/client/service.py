"""Finding the store server: the one `databright store serve` recorded, or the one named.

Like the chain node, a running store server records its URL under DATABRIGHT_HOME so that
separate commands find it without flags.
"""

from __future__ import annotations

import json
import os

from databright.config import home

DEFAULT_PORT = 8600


def record_server(url: str) -> None:
    (home() / "store.json").write_text(json.dumps({"url": url, "pid": os.getpid()}))


def forget_server() -> None:
    (home() / "store.json").unlink(missing_ok=True)


def recorded_url() -> str | None:
    path = home() / "store.json"
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return str(info["url"])


def store_url(explicit: str | None = None) -> str:
    """`--store`/DATABRIGHT_STORE, else a running `databright store serve`, else the default port."""
    return explicit or os.environ.get("DATABRIGHT_STORE") or recorded_url() or f"http://127.0.0.1:{DEFAULT_PORT}"
