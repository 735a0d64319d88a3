"""Signed requests without a server: what is signed, and every way a signature is refused."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

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
    sign_request,
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
