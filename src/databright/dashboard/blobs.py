"""Reading JSON blobs (specs, the oracle's vote reports, job reports) from the store for the pages.

Why a reader of its own rather than bare `StoreClient.get_bytes`: a dashboard must never fail
because one blob is out of reach. The store only lets an account read what a right on-chain
allows (see `databright.store.server.access`), the server may be down, and a dashboard started on a
chain whose keys it does not have cannot sign at all. Each read therefore ends in a `Blob` that
is either the parsed document or the reason it could not be read, and the page shows that reason.

Blobs are named by the hash of their content and the client checks every byte against it, so a
document once read is cached for good; refusals are not cached, since a right may appear in the
next block (a job completes, a curator delegates).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from databright.store.client import StoreClient
from databright.store.errors import AccessDenied, BlobNotFound, NotAuthenticated, StoreError, StoreUnavailable

MAX_CACHED = 256  # documents kept; reports are a few kB each


@dataclass(frozen=True)
class Blob:
    """One stored document as the dashboard's reader sees it: `data` when readable, else `reason`."""

    cid: str
    readable: bool
    data: Any = None
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cid": self.cid, "readable": self.readable}
        if self.readable:
            out["data"] = self.data
        else:
            out["reason"] = self.reason
        return out


class BlobReader:
    """Reads JSON documents as one account; `store` is None when the dashboard cannot sign."""

    def __init__(self, store: StoreClient | None, why_not: str = "") -> None:
        self.store = store
        self.why_not = why_not or "no store client: the dashboard cannot sign store requests"
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def account(self) -> str | None:
        return None if self.store is None else str(self.store.signer.address)

    def json(self, cid: str | None) -> Blob | None:
        """The JSON document named `cid` (None for no CID), or why it cannot be read."""
        if not cid:
            return None
        with self._lock:
            if cid in self._cache:
                return Blob(cid, True, self._cache[cid])
        if self.store is None:
            return Blob(cid, False, reason=self.why_not)
        try:
            raw = self.store.get_bytes(cid)
        except AccessDenied as exc:
            return Blob(cid, False, reason=f"not readable by {self.account}: {exc.reason}")
        except BlobNotFound:
            return Blob(cid, False, reason=f"not in the store at {self.store.url} (stored elsewhere, or removed)")
        except NotAuthenticated as exc:
            return Blob(cid, False, reason=f"the store did not accept the signature: {exc.reason}")
        except StoreUnavailable as exc:
            return Blob(cid, False, reason=f"the store is unreachable: {exc}")
        except StoreError as exc:
            return Blob(cid, False, reason=f"the store refused: {exc}")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            return Blob(cid, False, reason=f"not a JSON document ({len(raw)} bytes)")
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[cid] = data
        return Blob(cid, True, data)
