"""The loop every long-running service shares (the oracle, the coordinator): rounds until stopped.

A chain or store that cannot be reached is the normal state of a network for a while, so it means
wait and retry, doubling the wait up to a minute; a refusal or a bad input in one round is logged and
the next round tries again. Nothing but a stop request ends the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from databright.errors import ChainError, ContractRevert, DataBrightError
from databright.store.errors import StoreUnavailable

MAX_BACKOFF = 60.0


def run_rounds(one_round: Callable[[], object], log: logging.Logger, poll: float = 2.0,
               should_stop: Callable[[], bool] = lambda: False,
               sleep: Callable[[float], None] = time.sleep) -> None:
    backoff = poll
    while not should_stop():
        try:
            one_round()
            backoff = poll
        except ContractRevert as exc:
            log.error("round failed: %s (will retry)", exc)
        except (ChainError, StoreUnavailable, OSError) as exc:
            backoff = min(MAX_BACKOFF, backoff * 2)
            log.warning("chain or store unreachable (%s); retrying in %.0f s", exc, backoff)
        except DataBrightError as exc:
            log.error("round failed: %s (will retry)", exc)
        sleep(backoff)
