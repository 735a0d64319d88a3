"""One demo run per module, with its store kept serving afterwards so the dashboard can read reports.

`databright demo` serves its store from a temporary folder that it removes when it ends; the job
report, the oracle's reports and the spec would be gone before a dashboard could show them. So the
demo is run in-process with its `demo_store` swapped for one that these fixtures own and stop at
teardown: the same server, policy and blobs, only longer-lived.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from databright.demo import run_demo
from databright.market import Market
from databright.store import BlobStore
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy


@dataclass
class DemoRun:
    market: Market
    summary: dict[str, Any]
    store_url: str
    story: str

    @property
    def job_id(self) -> int:
        return int(self.summary["job"]["id"])

    @property
    def coordinator(self) -> str:
        """The coordinator that settled the demo's job (approved by governance: it may read its report)."""
        coordinator = self.market.compute.job(self.job_id).coordinator
        assert coordinator is not None
        return coordinator


@contextmanager
def demo_with_store(market: Market) -> Iterator[DemoRun]:
    """Runs the whole demo on `market`; its store keeps serving until the context ends."""
    server_log = logging.getLogger("databright.store.server")
    level = server_log.level
    server_log.setLevel(logging.ERROR)  # the demo's refusals on purpose are not news
    with tempfile.TemporaryDirectory(prefix="databright-dashboard-store-") as root:
        store = BlobStore(Path(root))
        with ServerThread(create_app(store, ChainAccessPolicy(market, store=store))) as server:

            story = io.StringIO()
            result = run_demo(market, Console(file=story, width=200), store_url=server.url)
            try:
                yield DemoRun(market, result.summary(), server.url, story.getvalue())
            finally:
                server_log.setLevel(level)
