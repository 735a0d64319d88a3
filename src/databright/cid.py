"""Content identifiers: CIDv1, raw codec, sha2-256 — the only kind DataBright uses.

Because the codec and hash are fixed, the 32-byte digest alone determines the CID: the
chain stores the digest (one slot) and the text form is rebuilt here. The multiformats
library does the varints and base32 so that our CIDs are the standard ones other tools
(IPFS among them) understand.
"""

from __future__ import annotations

import hashlib

from multiformats import CID, multihash

from databright.errors import CidError

RAW_CODEC = "raw"
HASH = "sha2-256"


def cid_for_bytes(data: bytes) -> str:
    """The CID of `data`."""
    return cid_from_digest(hashlib.sha256(data).digest())


def cid_from_digest(digest: bytes) -> str:
    """Rebuilds the CID text from a sha2-256 digest (as stored on-chain)."""
    if len(digest) != 32:
        raise CidError(f"a sha2-256 digest has 32 bytes, got {len(digest)}")
    if digest == bytes(32):
        raise CidError("the all-zero digest names no content")
    mh = multihash.wrap(digest, HASH)
    return str(CID("base32", 1, RAW_CODEC, mh))


def digest_from_cid(text: str) -> bytes:
    """The 32-byte digest inside `text`, after checking it is a CIDv1 raw sha2-256."""
    try:
        cid = CID.decode(text.strip())
    except (ValueError, KeyError, TypeError) as exc:
        raise CidError(f"not a CID: {text!r} ({exc})") from exc
    if cid.version != 1:
        raise CidError(f"{text!r} is a CIDv{cid.version}; DataBright uses CIDv1")
    if cid.codec.name != RAW_CODEC:
        raise CidError(f"{text!r} has codec {cid.codec.name}; DataBright uses raw")
    if cid.hashfun.name != HASH:
        raise CidError(f"{text!r} is hashed with {cid.hashfun.name}; DataBright uses sha2-256")
    digest = bytes(cid.raw_digest)
    if len(digest) != 32:
        raise CidError(f"{text!r} has a {len(digest)}-byte digest; sha2-256 has 32")
    return digest
