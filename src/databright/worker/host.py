"""Several worker identities in one process, each with its own agent (session, thread, trainer).

Each identity is a whole worker — its own key, session and replica — so the market treats it
exactly as a separate machine; only the process is shared. It exists for simulating a market on one
machine (a 5 % data cap needs at least 20 workers per group, 60 with redundancy, and a process per
identity would cost ~250 MB of PyTorch each) and for `databright worker start --identities`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from eth_account.signers.local import LocalAccount

from databright.protocol.memory import keep_freed_memory
from databright.worker.agent import Agent, Endpoint
from databright.worker.trainer import Trainer


class Host:
    """One agent per (identity, coordinator endpoint), each with its own trainer."""

    def __init__(self, accounts: Sequence[LocalAccount], endpoints: Sequence[Endpoint],
                 trainer: Callable[[str], Trainer] = Trainer) -> None:
        self.agents = [Agent(a, e, trainer(str(a.address))) for a in accounts for e in endpoints]

    def start(self) -> Host:
        keep_freed_memory()
        for agent in self.agents:
            agent.start()
        return self

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop(timeout=0.5)

    def serve(self, stop: threading.Event) -> None:
        """Blocks until `stop` is set, then stops every identity."""
        try:
            stop.wait()
        finally:
            self.stop()
