"""The store as a library: `BlobStore`, the sealed-blob format (`crypto`, `keys`), the backends.

Nothing here knows HTTP or the chain; the public names are re-exported by `databright.store`.
"""
