"""The store's master key: one 32-byte file per store, created on first start, never in the repo.

The master key never encrypts blob data itself. Every blob gets a fresh random data key, and
the master key only wraps (AES-256-GCM) those data keys into the blob headers. This keeps the
master key's usage count tiny (one wrap per blob, so random 96-bit nonces are safe) and would
let a later key rotation rewrap headers without touching the data.

Where the key comes from (`master_key`): a file named by the operator (`--master-key-file` or
DATABRIGHT_STORE_MASTER_KEY_FILE), or the key itself in hex in DATABRIGHT_STORE_MASTER_KEY,
or else the store folder's own file, created on first start. Several servers on one bucket must
be given the same key (one of the first two ways); see docs/store.md for rotating it.

The store folder's own key file lives with mode 0600 and the folder itself is 0700.
Creation must be race-free because two processes may open a fresh store at the same moment:
each writes its candidate key to a private temp file and hard-links it to the final name, which
fails if the name exists, so exactly one key wins and everyone reads that one. A reader never
sees a half-written key file because the link only happens after the data is on disk.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from databright.private_file import read_private_file
from databright.store.errors import IntegrityError, StoreError
from databright.store.lib.fsutil import fsync_dir

KEY_FILE = "master.key"
ENV_KEY = "DATABRIGHT_STORE_MASTER_KEY"
ENV_KEY_FILE = "DATABRIGHT_STORE_MASTER_KEY_FILE"
KEY_BYTES = 32
KEY_ID_BYTES = 8
WRAP_NONCE_BYTES = 12
WRAPPED_BYTES = WRAP_NONCE_BYTES + KEY_BYTES + 16  # nonce, data key, GCM tag


class MasterKey:
    """A loaded master key. Its repr never shows the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise StoreError(f"a master key has {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        # The id goes into every blob header so that a store opened with the wrong key file
        # can say so plainly instead of reporting every blob as tampered.
        self.key_id = hmac.new(key, b"databright store master key id v1", hashlib.sha256).digest()[:KEY_ID_BYTES]

    def __repr__(self) -> str:
        return f"MasterKey(id={self.key_id.hex()})"

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        """Encrypts a data key; `aad` (the rest of the blob header) is bound to it."""
        if len(data_key) != KEY_BYTES:
            raise ValueError("data keys are 32 bytes")
        nonce = os.urandom(WRAP_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Decrypts a wrapped data key; a changed key or header raises IntegrityError."""
        if len(wrapped) != WRAPPED_BYTES:
            raise IntegrityError(f"wrapped data key has {len(wrapped)} bytes, expected {WRAPPED_BYTES}")
        try:
            key = self._aead.decrypt(wrapped[:WRAP_NONCE_BYTES], wrapped[WRAP_NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise IntegrityError("blob header failed authentication (wrapped key or header changed)") from exc
        if len(key) != KEY_BYTES:  # pragma: no cover - only a forger holding the master key gets here
            raise IntegrityError("wrapped data key has the wrong length")
        return key


def master_key(folder: Path, key_file: Path | None = None) -> MasterKey:
    """The key from `key_file`, else from the environment (see the module docstring), else `folder`'s."""
    named = key_file or (Path(os.environ[ENV_KEY_FILE]) if os.environ.get(ENV_KEY_FILE) else None)
    if named is not None:
        try:
            return _load(named)
        except FileNotFoundError:
            raise StoreError(f"no master key file {named}") from None
    text = os.environ.get(ENV_KEY, "").strip()
    if text:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise StoreError(f"{ENV_KEY} is not hex") from None
        if len(key) != KEY_BYTES:
            raise StoreError(f"{ENV_KEY} holds {len(key)} bytes; a master key has {KEY_BYTES} (64 hex digits)")
        return MasterKey(key)
    return load_or_create(folder)


def write_new_key(path: Path) -> MasterKey:
    """Writes a fresh random key to a new file `path` (mode 0600) for an operator to hand to servers."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(os.urandom(KEY_BYTES))
        out.flush()
        os.fsync(out.fileno())
    return _load(path)


def load_or_create(folder: Path) -> MasterKey:
    """The master key of the store in `folder`, generated on first use."""
    path = folder / KEY_FILE
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".master.key.", suffix=".tmp", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created the key first: everyone uses that one
        else:
            fsync_dir(folder)
    finally:
        os.unlink(tmp)
    return _load(path)


def _load(path: Path) -> MasterKey:
    """Reads the key file, refusing one that others could read (as ssh does with private keys)."""
    key = read_private_file(path, StoreError, KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise StoreError(f"{path} holds {len(key)} bytes; a master key has {KEY_BYTES}")
    return MasterKey(key)
