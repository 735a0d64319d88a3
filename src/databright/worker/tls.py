"""Pinning the coordinator's TLS certificate: its SHA-256 is published on-chain in the coordinator's
`ComputeMarket` record, so a worker trusts exactly that certificate and nothing else.

The worker first reads the certificate the server presents (an unverified handshake, used for
nothing but reading it), refuses it unless its SHA-256 (of the DER bytes) is the pin, then opens
the gRPC channel with that very certificate as its only root of trust: a server without the
certificate's private key cannot complete the channel's handshake, so reading it first is not a
hole (a man in the middle fails either the pin or the second handshake).
"""

from __future__ import annotations

import socket
import ssl

import grpc
from cryptography import x509

from databright.protocol.errors import ProtocolError
from databright.protocol.pinning import certificate_pin


class PinMismatch(ProtocolError):
    """The server's certificate is not the one the chain names: it is not the coordinator."""


def split_url(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("grpcs://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise ProtocolError(f"a coordinator endpoint is host:port (or grpcs://host:port), not {url!r}")
    return host.strip("[]"), int(port)


def server_certificate(url: str, timeout: float = 10.0) -> bytes:
    """The DER certificate the server at `url` presents (not verified: compare it with a pin)."""
    host, port = split_url(url)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((host, port), timeout=timeout) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ProtocolError(f"{url} presented no certificate")
    return der


def pinned_credentials(url: str, pin: str) -> tuple[grpc.ChannelCredentials, str]:
    """Channel credentials that trust only the pinned certificate, and the name to check it by."""
    der = server_certificate(url)
    presented = certificate_pin(der)
    if presented != pin.lower().removeprefix("0x"):
        raise PinMismatch(f"{url} presents certificate {presented[:16]}…, the chain pins {pin[:16]}…: refused")
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        name = names.get_values_for_type(x509.DNSName)[0]
    except (x509.ExtensionNotFound, IndexError):
        raise ProtocolError(f"{url}'s certificate names no DNS name") from None
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    return grpc.ssl_channel_credentials(root_certificates=pem), name
