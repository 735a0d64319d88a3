"""Attesting coordinators before governance approves them on-chain.

Coordinators are the trusted part of the compute market: they read the data and decide who
is paid. On SGX/TDX hardware that trust comes from a remote-attestation *quote*: a report,
signed by the CPU vendor's key chain, that a known enclave measurement runs and holds the
coordinator's signing key. Governance checks the quote off-chain and records only its hash
with the approval (`ComputeMarket.approveCoordinator`), so anyone can later ask for the quote
and check the same thing.

Verifying a quote is pluggable (`AttestationVerifier`) because it depends on the hardware:

* `DevAttestation` — no enclave. Its "quote" is a plain self-description of the account and
  key. It proves NOTHING about the machine; it exists so the market runs end to end on
  machines without SGX/TDX (laptops, CI, this demo), with the same approval flow.
* `SgxDcapVerifier` — where real quote verification goes. It refuses: DCAP verification needs
  Intel's quote verification library and collateral, which are not available here.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol

from web3 import Web3

from databright.compute.errors import AttestationError

if TYPE_CHECKING:
    from databright.chain.compute_market import CoordinatorInfo
    from databright.market.compute import ComputeClient

DEV_PREFIX = b"databright-dev-attestation:"


class AttestationVerifier(Protocol):
    """Checks a coordinator's quote before approval; returns the hash to record on-chain."""

    def quote_hash(self, quote: bytes) -> bytes:
        """The 32 bytes recorded on-chain for `quote`."""
        ...

    def verify(self, account: str, signing_key: str, quote: bytes) -> bytes:
        """Checks that `quote` attests `account` holding `signing_key`; returns `quote_hash(quote)`.

        Raises AttestationError when it does not.
        """
        ...


def _checksum(address: str, what: str) -> str:
    if not Web3.is_address(address):
        raise AttestationError(f"{what} must be an address, not {address!r}")
    return str(Web3.to_checksum_address(address))


class DevAttestation:
    """The no-enclave attestation: proves nothing, for machines without SGX/TDX.

    The quote is ``b"databright-dev-attestation:" + account + signing key`` (checksummed
    text); verifying it only checks that it names this account and key. Anyone can write
    one, so a market that must not trust its governance blindly should not accept it.
    """

    @staticmethod
    def quote(account: str, signing_key: str) -> bytes:
        """The dev quote for `account` signing with `signing_key`."""
        who, key = _checksum(account, "the coordinator"), _checksum(signing_key, "the signing key")
        return DEV_PREFIX + who.encode() + key.encode()

    def quote_hash(self, quote: bytes) -> bytes:
        return hashlib.sha256(quote).digest()

    def verify(self, account: str, signing_key: str, quote: bytes) -> bytes:
        expected = self.quote(account, signing_key)
        if quote != expected:
            if not quote.startswith(DEV_PREFIX):
                raise AttestationError("not a dev attestation quote (it must start with "
                                       f"{DEV_PREFIX.decode()!r}); real quotes need a hardware verifier")
            raise AttestationError(f"the dev attestation quote does not describe {account} with signing key "
                                   f"{signing_key}: it reads {quote[len(DEV_PREFIX):].decode(errors='replace')!r}")
        return self.quote_hash(quote)


class SgxDcapVerifier:
    """Intel SGX/TDX DCAP quote verification: the documented place to plug it in.

    A DCAP quote is verified against Intel's PCK certificate chain, TCB info and QE identity
    (the collateral) by Intel's Quote Verification Library (QVL/QvE), and the enclave
    measurement (MRENCLAVE/MRTD) is compared with the coordinator build's. None of that is
    available here, so `verify` refuses rather than pretend.
    """

    def quote_hash(self, quote: bytes) -> bytes:
        return hashlib.sha256(quote).digest()

    def verify(self, account: str, signing_key: str, quote: bytes) -> bytes:
        raise AttestationError(
            "SGX/TDX DCAP quote verification needs Intel's quote verification library (QVL/QvE), its "
            "collateral and a TEE, none of which is available here; approve with the dev attestation "
            "(which proves nothing) or plug a real verifier into databright.compute.attestation"
        )


def approve(client: ComputeClient, account: str, signing_key: str, verifier: AttestationVerifier | None = None,
            quote: bytes | None = None) -> CoordinatorInfo:
    """Verifies `quote` with `verifier` (default: the dev attestation), then approves on-chain.

    Without a quote the dev attestation writes its own; other verifiers need the real one.
    """
    checker: AttestationVerifier = verifier if verifier is not None else DevAttestation()
    if quote is None:
        if not isinstance(checker, DevAttestation):
            raise AttestationError(f"{type(checker).__name__} needs the coordinator's attestation quote")
        quote = checker.quote(account, signing_key)
    quote_hash = checker.verify(account, signing_key, quote)
    return client.approve_coordinator(account, signing_key, quote_hash)
