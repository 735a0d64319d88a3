"""The store's client: `StoreClient` (signed uploads and downloads over kept-alive connections).

It needs the signed-request format (`databright.store.auth`) and the hashing helpers of the library,
never the server; `service` finds the server a `databright store serve` recorded.
"""

from databright.store.client.store_client import StoreClient

__all__ = ["StoreClient"]
