"""The coordinator's TLS identity: a self-signed certificate it creates once and keeps in its folder.

Workers do not trust it through any authority: they pin its SHA-256, which the coordinator publishes
in its on-chain record (`ComputeMarket.setCoordinatorEndpoint`). The key never leaves the folder
(written 0600); a new folder means a new certificate and so a new pin to publish.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from databright.protocol.pinning import certificate_pin

SERVER_NAME = "databright-coordinator"


@dataclass(frozen=True)
class TlsIdentity:
    key_pem: bytes
    cert_pem: bytes

    @property
    def sha256(self) -> str:
        """What workers pin: SHA-256 of the certificate's DER bytes, hex."""
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)
        return certificate_pin(der)


def _create() -> TlsIdentity:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return TlsIdentity(key_pem, cert.public_bytes(serialization.Encoding.PEM))


def load_or_create(folder: Path) -> TlsIdentity:
    """The identity kept in `folder/tls`, created on first use."""
    tls = folder / "tls"
    key_path, cert_path = tls / "key.pem", tls / "cert.pem"
    if key_path.exists() and cert_path.exists():
        return TlsIdentity(key_path.read_bytes(), cert_path.read_bytes())
    tls.mkdir(parents=True, exist_ok=True)
    identity = _create()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(identity.key_pem)
    cert_path.write_bytes(identity.cert_pem)
    return identity
