"""The encrypted content-addressed blob store.

Blobs are named by the CIDv1 (raw, sha2-256) of their plaintext, stored encrypted with
AES-256-GCM under a per-blob data key wrapped by the store's master key, written atomically and
verified against their CID on every read. Three parts, as their users see them:

* `lib`, the library (re-exported here): `lib.blobstore` for the API and its guarantees,
  `lib.crypto` and `lib.keys` for the at-rest format, `lib.backend` for the storage contract and
  `lib.local` / `lib.s3` for the folder and the S3-compatible backends;
* `server`, the HTTP server (`databright store serve`, with on-chain read rights in `server.access`);
* `client`, `StoreClient`;
and `auth`, the signed-request format both sides share. They are imported from their own
modules, so that using the library does not load a web framework or a chain connection.
"""

from databright.store.errors import (
    AccessDenied,
    BlobNotFound,
    BlobTooLarge,
    IntegrityError,
    NotAuthenticated,
    StoreError,
)
from databright.store.lib.backend import BlobBackend, StagedBlob, canonical_cid
from databright.store.lib.blobstore import BlobStore
from databright.store.lib.blobstream import BlobStream
from databright.store.lib.local import LocalBackend
from databright.store.lib.memory import MemoryBackend

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
