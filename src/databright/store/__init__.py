"""The encrypted content-addressed blob store.

Blobs are named by the CIDv1 (raw, sha2-256) of their plaintext, stored encrypted with
AES-256-GCM under a per-blob data key wrapped by the store's master key, written atomically and
verified against their CID on every read. See `blobstore` for the API and its guarantees,
`crypto` for the at-rest format and `backend` for the storage contract.

The HTTP server and its client are imported from their own modules (`server`, `client`, with
signed requests in `auth` and on-chain read rights in `access`), so that using the library does
not load a web framework or a chain connection.
"""

from databright.store.backend import BlobBackend, StagedBlob, canonical_cid
from databright.store.blobstore import BlobStore
from databright.store.blobstream import BlobStream
from databright.store.errors import (
    AccessDenied,
    BlobNotFound,
    BlobTooLarge,
    IntegrityError,
    NotAuthenticated,
    StoreError,
)
from databright.store.local import LocalBackend
from databright.store.memory import MemoryBackend

__all__ = [
    "AccessDenied",
    "BlobBackend",
    "BlobNotFound",
    "BlobStore",
    "BlobStream",
    "BlobTooLarge",
    "IntegrityError",
    "LocalBackend",
    "MemoryBackend",
    "NotAuthenticated",
    "StagedBlob",
    "StoreError",
    "canonical_cid",
]
