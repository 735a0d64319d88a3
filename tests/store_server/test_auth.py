"""Signed requests without a server: what is signed, and every way a signature is refused."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from databright.store.auth import (
    HEADER_ADDRESS,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    HEADERS,
    MAX_AGE,
    MAX_SKEW,
    NonceCache,
    Verifier,
    canonical_text,
    recover,
    sign_request,
    sign_text,
)
from databright.store.errors import NotAuthenticated

ALICE = Account.from_key("0x" + "11" * 32)
MALLORY = Account.from_key("0x" + "22" * 32)
CID = "bafkreigqg3xm2sixu2bovfcxb63ppjvtazeuxsvfjelbcmdsycmlrebiou"
PATH = f"/blobs/{CID}"


def test_canonical_text_names_every_field() -> None:
    assert canonical_text("get", PATH, CID, 1700000000, "n" * 16) == (
        f"DataBright store request v1\nmethod:GET\npath:{PATH}\ncid:{CID}\ntimestamp:1700000000\nnonce:{'n' * 16}"
    )


def test_a_good_signature_names_its_signer_once() -> None:
    verifier = Verifier()
    headers = sign_request(ALICE, "GET", PATH, CID)
    assert set(headers) == set(HEADERS)
    assert verifier.verify("GET", PATH, CID, headers) == ALICE.address
    with pytest.raises(NotAuthenticated, match="replayed request"):
        verifier.verify("GET", PATH, CID, headers)
    assert verifier.verify("GET", PATH, CID, sign_request(ALICE, "GET", PATH, CID)) == ALICE.address


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({HEADER_SIGNATURE: "0x" + "ab" * 65}, "bad signature"),
        ({HEADER_SIGNATURE: "0x1234"}, "bad signature: not a valid"),
        ({HEADER_SIGNATURE: "zz"}, "bad signature: not a valid"),
        ({HEADER_ADDRESS: MALLORY.address}, f"not {MALLORY.address}'s signature"),
        ({HEADER_ADDRESS: "0x1234"}, "not an Ethereum address"),
        ({HEADER_TIMESTAMP: "soon"}, "must be unix seconds"),
        ({HEADER_NONCE: "short"}, "16-64 characters"),
        ({HEADER_NONCE: "n" * 20}, "bad signature"),  # a nonce other than the one signed
    ],
)
def test_tampered_headers_are_refused(change: dict[str, str], message: str) -> None:
    headers = sign_request(ALICE, "GET", PATH, CID, nonce="m" * 20) | change
    with pytest.raises(NotAuthenticated, match=message):
        Verifier().verify("GET", PATH, CID, headers)


def test_a_signature_is_bound_to_method_path_and_cid() -> None:
    other = "bafkreif3qobjntoab56a5phyz4aebh43hw3oxfno4mb3d7qmcsa5j2icmi"
    for method, path, cid in (("POST", PATH, CID), ("GET", f"/blobs/{other}", CID), ("GET", PATH, other)):
        with pytest.raises(NotAuthenticated, match="bad signature"):
            Verifier().verify(method, path, cid, sign_request(ALICE, "GET", PATH, CID))


@pytest.mark.parametrize(("offset", "message"), [(-MAX_AGE - 1, "stale signature"), (MAX_SKEW + 5, "from the future")])
def test_timestamps_outside_the_window_are_refused(offset: int, message: str) -> None:
    headers = sign_request(ALICE, "GET", PATH, CID, timestamp=int(time.time()) + offset)
    with pytest.raises(NotAuthenticated, match=message):
        Verifier().verify("GET", PATH, CID, headers)


def test_missing_headers_are_listed() -> None:
    with pytest.raises(NotAuthenticated, match=f"unsigned request: missing header\\(s\\) {HEADER_NONCE}"):
        Verifier().verify("GET", PATH, CID, {k: v for k, v in sign_request(ALICE, "GET", PATH, CID).items()
                                              if k != HEADER_NONCE})


def test_a_forged_request_does_not_use_up_the_nonce() -> None:
    verifier = Verifier()
    good = sign_request(ALICE, "GET", PATH, CID)
    with pytest.raises(NotAuthenticated):
        verifier.verify("GET", PATH, CID, good | {HEADER_SIGNATURE: sign_request(MALLORY, "GET", PATH, CID)[
            HEADER_SIGNATURE]})
    assert verifier.verify("GET", PATH, CID, good) == ALICE.address


def test_nonces_are_forgotten_once_their_signature_is_stale() -> None:
    cache = NonceCache()
    assert cache.use(ALICE.address, "a" * 16, expires=100.0, now=0.0)
    assert not cache.use(ALICE.address.lower(), "a" * 16, expires=100.0, now=50.0)
    assert cache.use(MALLORY.address, "a" * 16, expires=100.0, now=50.0)  # one account cannot burn another's
    assert len(cache) == 2
    assert cache.use(ALICE.address, "b" * 16, expires=300.0, now=101.0)
    assert len(cache) == 1


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@settings(max_examples=60, deadline=None)
@given(secret=st.binary(min_size=32, max_size=32), text=st.text(max_size=300))
def test_signatures_are_eth_accounts_to_the_byte(secret: bytes, text: str) -> None:
    """The direct libsecp256k1 path signs exactly as eth_account does and recovers the same signer,
    also from the high-s twin of a signature (which eth_account accepts too)."""
    assume(0 < int.from_bytes(secret, "big") < SECP256K1_N)
    account = Account.from_key(secret)
    reference = bytes(account.sign_message(encode_defunct(text=text)).signature)
    assert sign_text(account, text) == reference
    assert recover(text, "0x" + reference.hex()) == account.address
    r, s, v = reference[:32], int.from_bytes(reference[32:64], "big"), reference[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    assert Account.recover_message(encode_defunct(text=text), signature=twin) == account.address
    assert recover(text, "0x" + twin.hex()) == account.address
    assert recover(text, "0x" + (reference[:64] + bytes([v - 27])).hex()) == account.address  # v as 0/1


@pytest.mark.parametrize(
    "signature",
    [
        "0x" + "00" * 64 + "1b",  # r = s = 0
        "0x" + "ff" * 64 + "1b",  # r, s beyond the curve order
        "0x" + "11" * 64 + "1d",  # v = 29
        "0x" + "11" * 64,  # 64 bytes
        "0xnothex",
    ],
)
def test_malformed_signatures_are_refused_like_eth_account_does(signature: str) -> None:
    with pytest.raises(NotAuthenticated, match="not a valid EIP-191 signature"):
        recover("a request", signature)
    with pytest.raises(Exception):  # noqa: B017 - any refusal: the reference raises several kinds
        Account.recover_message(encode_defunct(text="a request"), signature=signature)
