"""The certificate pin both sides agree on: the coordinator publishes it on-chain, workers check it.

One definition, so that what `ComputeMarket.setCoordinatorEndpoint` records and what a worker compares
can never drift apart: SHA-256 of the certificate's DER bytes, as 64 lowercase hex digits.
"""

from __future__ import annotations

import hashlib


def certificate_pin(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
