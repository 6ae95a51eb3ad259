"""The node's TLS contexts: TLS 1.3 only, the node's certificate, and the CA bundle.

Server: with a CA bundle, every client is asked for a certificate (``CERT_OPTIONAL``): a
certificate that is presented must verify (an expired one, or one from another CA, fails the
handshake), and the routes peers call refuse a connection without one (``guard``). Ordinary
API clients may connect without a certificate. Hostnames are not what identifies a peer:
its certificate's URI SAN must equal its node id (``peer``).

Client (towards peers): the node's certificate is presented, the peer's must chain to the CA
bundle; hostname checking is off because the URI SAN is checked against the expected node id
before any request is sent (``client``).
"""

from __future__ import annotations

import ssl

from stigmem_node.tls.files import TlsFiles

ALPN = ["http/1.1"]


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """Raises ``OSError`` / ``ssl.SSLError`` when a file is missing or does not load."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(files.cert, files.key)
    ctx.set_alpn_protocols(ALPN)
    if files.ca is not None:
        ctx.load_verify_locations(cafile=files.ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """For calls to peers (mutual TLS). Raises ``OSError`` / ``ssl.SSLError``."""
    if files.ca is None:
        raise ValueError("a client context for peers needs the CA bundle")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the URI SAN is bound to the peer's node id instead
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=files.ca)
    ctx.load_cert_chain(files.cert, files.key)
    ctx.set_alpn_protocols(ALPN)
    return ctx
