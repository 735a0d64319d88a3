"""The at-rest format's building blocks on their own: segmenting, sizes, misuse, CID names."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from multiformats import CID

from databright.cid import cid_for_bytes, cid_from_digest, digest_from_cid
from databright.errors import CidError
from databright.store.errors import IntegrityError
from databright.store.lib.backend import canonical_cid, cid_digest, cid_text
from databright.store.lib.crypto import (
    HEADER_BYTES,
    MAX_SEGMENT_SIZE,
    TAG_BYTES,
    Opener,
    Sealer,
    plaintext_size,
    split_segments,
)
from databright.store.lib.keys import MasterKey


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.binary(max_size=50), max_size=20), size=st.integers(1, 17))
def test_split_segments(chunks: list[bytes], size: int) -> None:
    pieces = [*split_segments(chunks, size)]
    data = b"".join(chunks)
    assert b"".join(p for p, _ in pieces) == data
    assert [last for _, last in pieces] == [False] * (len(pieces) - 1) + [True]
    assert all(len(p) == size for p, _ in pieces[:-1])
    final = pieces[-1][0]
    assert 0 < len(final) <= size or data == final == b""


@settings(max_examples=100, deadline=None)
@given(size=st.integers(0, 200), segment_size=st.integers(1, 40))
def test_sizes_and_round_trip(size: int, segment_size: int) -> None:
    master = MasterKey(bytes(range(32)))
    data = os.urandom(size)
    sealer = Sealer(master, segment_size)
    digest = hashlib.sha256(data).digest()
    header = sealer.header(digest)
    stored = header + b"".join(sealer.seal(p, last) for p, last in split_segments([data], segment_size))
    assert len(header) == HEADER_BYTES
    assert plaintext_size(len(stored), segment_size) == size
    opener = Opener(stored[:HEADER_BYTES], master, digest)
    assert opener.bound_to_cid
    assert b"".join(p for p, _ in opener.read_segments(io.BytesIO(stored[HEADER_BYTES:]))) == data


@pytest.mark.parametrize("version", [1, 2])
def test_the_key_is_bound_to_the_cid_from_version_2(version: int) -> None:
    """A version 2 header opens only under the digest it was sealed for; version 1 ignores it."""
    master = MasterKey(os.urandom(32))
    sealer = Sealer(master, 16, version=version)
    right, wrong = hashlib.sha256(b"right").digest(), hashlib.sha256(b"wrong").digest()
    header = sealer.header(right)
    final = sealer.seal(b"right", last=True)
    assert Opener(header, master, right).open(final, last=True) == b"right"
    if version == 1:
        opener = Opener(header, master, wrong)  # not bound: readers of version 1 must hash
        assert not opener.bound_to_cid
        assert opener.open(final, last=True) == b"right"
    else:
        with pytest.raises(IntegrityError, match="another blob is stored under this name"):
            Opener(header, master, wrong)


def test_unknown_versions_are_refused() -> None:
    master = MasterKey(os.urandom(32))
    with pytest.raises(ValueError, match="version"):
        Sealer(master, 16, version=3)
    header = bytearray(Sealer(master, 16).header(bytes(range(32))))
    header[4] = 3
    with pytest.raises(IntegrityError, match="unknown format version 3"):
        Opener(bytes(header), master, bytes(range(32)))


def test_sealer_refuses_misuse() -> None:
    sealer = Sealer(MasterKey(os.urandom(32)), 4)
    with pytest.raises(ValueError):
        sealer.seal(b"abc", last=False)  # only the final segment may be short
    with pytest.raises(ValueError):
        sealer.seal(b"abcde", last=True)
    sealer.seal(b"ab", last=True)
    with pytest.raises(RuntimeError):
        sealer.seal(b"", last=True)
    with pytest.raises(ValueError):
        Sealer(MasterKey(os.urandom(32)), MAX_SEGMENT_SIZE + 1)


def test_opener_refuses_data_after_the_final_segment() -> None:
    master = MasterKey(os.urandom(32))
    sealer = Sealer(master, 4)
    final = sealer.seal(b"ab", last=True)
    digest = hashlib.sha256(b"ab").digest()
    opener = Opener(sealer.header(digest), master, digest)
    assert opener.open(final, last=True) == b"ab"
    with pytest.raises(IntegrityError, match="after the final"):
        opener.open(final, last=True)


def test_nonces_and_keys_are_fresh_per_blob() -> None:
    """Identical plaintext never gives identical ciphertext: each blob has its own data key."""
    master = MasterKey(os.urandom(32))
    a, b = Sealer(master, 16), Sealer(master, 16)
    digest = hashlib.sha256(b"same").digest()
    assert a.header(digest) != b.header(digest)
    assert a.seal(b"same", last=True) != b.seal(b"same", last=True)


def test_plaintext_size_rejects_impossible_lengths() -> None:
    with pytest.raises(IntegrityError):
        plaintext_size(HEADER_BYTES + TAG_BYTES - 1, 1024)
    assert plaintext_size(HEADER_BYTES + TAG_BYTES, 1024) == 0


def test_master_key_repr_hides_the_key() -> None:
    key = os.urandom(32)
    assert key.hex() not in repr(MasterKey(key))


def reference_canonical(text: str) -> str:
    return cid_from_digest(digest_from_cid(text))


@settings(max_examples=200, deadline=None)
@given(digest=st.binary(min_size=32, max_size=32))
def test_fast_cid_codec_matches_databright_cid(digest: bytes) -> None:
    assume(digest != bytes(32))
    text = cid_from_digest(digest)
    assert cid_text(digest) == text
    assert cid_digest(text) == digest
    assert canonical_cid(text) == text
    assert canonical_cid(text.upper()) == text  # base32upper spelling
    assert canonical_cid(CID.decode(text).encode("base58btc")) == text


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 58), char=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567AZ019=/."))
def test_fast_cid_path_agrees_with_the_reference_on_near_misses(position: int, char: str) -> None:
    good = cid_for_bytes(b"near miss")
    text = good[:position] + char + good[position + 1 :]
    try:
        expected: str | type[CidError] = reference_canonical(text)
    except CidError:
        expected = CidError
    if expected is CidError:
        with pytest.raises(CidError):
            canonical_cid(text)
    else:
        assert canonical_cid(text) == expected


def test_cid_text_rejects_what_the_reference_rejects() -> None:
    for digest in (b"", bytes(31), bytes(32)):
        with pytest.raises(CidError):
            cid_text(digest)


def test_segments_inside_one_immutable_chunk_are_not_copied() -> None:
    """A segment within one bytes chunk, or a view of one, is handed on as that memory itself."""
    data = os.urandom(100)
    for chunk in (data, memoryview(data)):
        pieces = [*split_segments([chunk], 40)]
        assert [len(p) for p, _ in pieces] == [40, 40, 20]
        assert all(isinstance(p, memoryview) and p.obj is data for p, _ in pieces)
    (whole, last), = split_segments([data], 100)
    assert whole is data and last
    mutable = bytearray(data)
    (copied, _), = split_segments([mutable], 100)
    mutable[0] ^= 1
    assert copied == data  # a caller's buffer is copied: changing it later changes nothing
