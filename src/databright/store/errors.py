"""The store's exception family.

It hangs off the project root (`DataBrightError`) so the CLI's one catch-all keeps working,
and it is defined here rather than in `databright.errors` so the store stays self-contained.
The exit codes follow the CLI's convention: 2 for something the caller asked for that cannot
be (an unknown CID, a blob over the limit), 5 for data that failed its check, which is
never the caller's fault and must never be confused with it, and 6 for a store server's
refusal to talk to the caller (who are you? / you may not).
"""

from __future__ import annotations

from databright.errors import DataBrightError


class StoreError(DataBrightError):
    """The blob store could not do what was asked (bad key file, unreadable format, ...)."""

    exit_code = 2


class IntegrityError(StoreError):
    """A stored blob failed authentication or its CID check; its data was not returned."""

    exit_code = 5


class BlobNotFound(StoreError):
    """No blob is stored under this CID."""

    exit_code = 2


class BlobTooLarge(StoreError):
    """An upload exceeded the store's size limit; nothing of it was kept."""

    exit_code = 2


class NotAuthenticated(StoreError):
    """The store server could not tell who sent a request (unsigned, bad or stale signature,
    replayed nonce), so it refused it; `reason` says which."""

    exit_code = 6

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccessDenied(StoreError):
    """The signer holds no right on-chain to read this blob; `reason` says which rights count."""

    exit_code = 6

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StoreUnavailable(StoreError):
    """The store server could not be reached, or could not check rights (its chain is down): try later."""

    exit_code = 3
