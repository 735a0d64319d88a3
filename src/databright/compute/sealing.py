"""Sealing the trained model to the buyer's key, so that only the buyer can read what was paid for.

ECIES on secp256k1 (the curve of the buyer's Ethereum account, so no second key pair is needed):
an ephemeral key pair, ECDH with the buyer's public key, HKDF-SHA256 to a 256-bit key, AES-256-GCM.
Layout: MAGIC (8) | ephemeral compressed public key (33) | nonce (12) | ciphertext and tag.
The store encrypts at rest as well; sealing additionally keeps the coordinator's store operators and
every other reader of the result blob out.
"""

from __future__ import annotations

import os

from coincurve import PrivateKey, PublicKey
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from databright.compute.errors import ComputeError

MAGIC = b"DBSEAL01"
_INFO = b"databright model seal v1"


def public_key_of(private_key: bytes) -> str:
    """The compressed public key (hex) a buyer puts in a job spec."""
    return str(PrivateKey(private_key).public_key.format(compressed=True).hex())


def _key(shared: bytes, ephemeral: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral, info=_INFO).derive(shared)


def seal(plaintext: bytes, public_key_hex: str) -> bytes:
    try:
        recipient = PublicKey(bytes.fromhex(public_key_hex.removeprefix("0x")))
    except ValueError as exc:
        raise ComputeError(f"not a secp256k1 public key: {public_key_hex!r}") from exc
    ephemeral = PrivateKey()
    epub = ephemeral.public_key.format(compressed=True)
    nonce = os.urandom(12)
    key = _key(ephemeral.ecdh(recipient.format()), epub)
    return MAGIC + epub + nonce + AESGCM(key).encrypt(nonce, plaintext, MAGIC + epub)


def unseal(sealed: bytes, private_key: bytes) -> bytes:
    if len(sealed) < len(MAGIC) + 33 + 12 + 16 or not sealed.startswith(MAGIC):
        raise ComputeError("this is not a sealed DataBright model")
    epub = sealed[8:41]
    nonce = sealed[41:53]
    try:
        key = _key(PrivateKey(private_key).ecdh(epub), epub)
        return AESGCM(key).decrypt(nonce, sealed[53:], MAGIC + epub)
    except (InvalidTag, ValueError) as exc:
        raise ComputeError("the model was not sealed to this account's key (or was altered)") from exc
