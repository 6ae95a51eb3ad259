"""Who is on the other end of a TLS connection, and the binding of that to a node id.

Upstream's rule (reference §1.4, §3.1 step 13): a peer's certificate must carry a URI SAN
equal to the peer's node id, on inbound federation requests as on outbound ones.

Inbound, the connection's certificate travels with each request: the server puts it in the
ASGI scope (``scope["extensions"]["tls"]``, ASGI's TLS extension, plus our parsed URIs) and
the transport guard exposes it to the code of that request through ``REQUEST_PEER`` (a
context variable: set for the request's duration, so peer-token authentication can bind the
token's issuer to the certificate without every route passing it along).
"""

from __future__ import annotations

import ssl
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SAN_MISMATCH = "peer certificate URI SAN does not match node_id"  # upstream's 401 detail
TLS_1_3 = 0x0304


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The verified certificate a client presented (or a server answered with)."""

    uris: tuple[str, ...]
    subject: str
    pem: str

    @classmethod
    def from_ssl_object(cls, sslobj: Any) -> PeerCertificate | None:
        """From an ``ssl.SSLObject``/``SSLSocket`` after the handshake; None when the peer
        presented no certificate. Only verified certificates are decoded by ``ssl``."""
        decoded = sslobj.getpeercert()
        der = sslobj.getpeercert(binary_form=True)
        if not decoded or not der:
            return None
        uris = tuple(str(v) for kind, v in decoded.get("subjectAltName", ()) if kind == "URI")
        subject = ",".join(f"{k}={v}" for rdn in decoded.get("subject", ()) for k, v in rdn)
        return cls(uris, subject, ssl.DER_cert_to_PEM_cert(der))

    def binds(self, node_id: str) -> bool:
        return node_id in self.uris

    def mismatch(self, node_id: str) -> str:
        """Why this certificate does not stand for ``node_id`` (for the audit)."""
        shown = ", ".join(self.uris) if self.uris else "no URI SAN"
        return f"certificate names {shown}, not {node_id}"


def tls_extension(sslobj: Any, peer: PeerCertificate | None) -> dict[str, Any]:
    """ASGI's TLS extension for a connection (``client_cert_uris`` is ours)."""
    cipher = sslobj.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": [peer.pem] if peer else [],
        "client_cert_name": peer.subject if peer else None,
        "client_cert_error": None,  # a certificate that does not verify fails the handshake
        "tls_version": TLS_1_3 if sslobj.version() == "TLSv1.3" else None,
        "cipher_suite": cipher[0] if cipher else None,
        "client_cert_uris": list(peer.uris) if peer else [],
    }


@dataclass(frozen=True, slots=True)
class RequestPeer:
    """What the transport guard knows about the current request on a mutual-TLS node."""

    certificate: PeerCertificate | None


# Set by the transport guard for each request on a mutual-TLS node; None elsewhere.
REQUEST_PEER: ContextVar[RequestPeer | None] = ContextVar("stigmem_request_peer", default=None)


def san_problem(node_id: str) -> str | None:
    """Step 13 of peer-token authentication: None when the current request's certificate
    stands for ``node_id`` (or the node does not use mutual TLS), else why it does not."""
    current = REQUEST_PEER.get()
    if current is None:
        return None
    if current.certificate is None:
        return f"no client certificate, expected {node_id}"
    if current.certificate.binds(node_id):
        return None
    return current.certificate.mismatch(node_id)
