"""The encrypted content-addressed blob store (library only: no server, no access control).

Blobs are named by the CIDv1 (raw, sha2-256) of their plaintext, stored encrypted with
AES-256-GCM under a per-blob data key wrapped by the store's master key, written atomically and
verified against their CID on every read. See `blobstore` for the API and its guarantees,
`crypto` for the at-rest format and `backend` for the storage contract.
"""

from databright.store.backend import BlobBackend, StagedBlob, canonical_cid
from databright.store.blobstore import BlobStore, BlobStream
from databright.store.errors import BlobNotFound, BlobTooLarge, IntegrityError, StoreError
from databright.store.local import LocalBackend
from databright.store.memory import MemoryBackend

__all__ = [
    "BlobBackend",
    "BlobNotFound",
    "BlobStore",
    "BlobStream",
    "BlobTooLarge",
    "IntegrityError",
    "LocalBackend",
    "MemoryBackend",
    "StagedBlob",
    "StoreError",
    "canonical_cid",
]
