"""Real certificates for the TLS tests (made with ``stigmem_node.tls.devca``), client
contexts, and an ASGI shim that stands in for the TLS server in in-process tests."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from starlette.types import ASGIApp, Receive, Scope, Send

from stigmem_node.tls import devca
from stigmem_node.tls.devca import Issued


@dataclass(frozen=True)
class NodeFiles:
    """A node certificate's files: ``node.crt``, ``node.key`` and the ``ca.crt`` bundle."""

    directory: Path
    node_id: str

    @property
    def cert(self) -> Path:
        return self.directory / devca.NODE_CERT

    @property
    def key(self) -> Path:
        return self.directory / devca.NODE_KEY

    @property
    def ca(self) -> Path:
        return self.directory / devca.CA_CERT

    def env(self, *, mutual: bool = True) -> dict[str, str]:
        env = {"STIGMEM_TLS_CERT_PATH": str(self.cert), "STIGMEM_TLS_KEY_PATH": str(self.key)}
        if mutual:
            env["STIGMEM_TLS_CA_BUNDLE"] = str(self.ca)
        return env

    def settings(self, *, mutual: bool = True) -> dict[str, Any]:
        return {k.removeprefix("STIGMEM_").lower(): v for k, v in self.env(mutual=mutual).items()}

    def client_context(self) -> ssl.SSLContext:
        """A client presenting this certificate and trusting its CA (no hostname check)."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.check_hostname = False
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


class Pki:
    """A CA in ``root`` and node certificates issued by it."""

    def __init__(self, root: Path, name: str = "Test CA") -> None:
        self.root = root
        self.ca: Issued = devca.create_ca(name, days=30)
        devca.write_pair(self.ca, root / devca.CA_CERT, root / devca.CA_KEY, force=True)

    @property
    def ca_file(self) -> Path:
        return self.root / devca.CA_CERT

    def issue(
        self,
        name: str,
        node_id: str,
        *,
        not_before: datetime | None = None,
        days: int = 7,
        bundle: Path | None = None,
    ) -> NodeFiles:
        """Issue into ``root/name`` (replacing what is there, atomically)."""
        issued = devca.issue_node(
            self.ca,
            node_id,
            dns_names=["localhost"],
            ip_addresses=["127.0.0.1"],
            days=days,
            not_before=not_before,
        )
        files = NodeFiles(self.root / name, node_id)
        devca.write_pair(issued, files.cert, files.key, force=True)
        devca.write_atomic(files.ca, (bundle or self.ca_file).read_bytes(), 0o644)
        return files

    def expired(self, name: str, node_id: str) -> NodeFiles:
        return self.issue(name, node_id, not_before=datetime.now(UTC) - timedelta(days=10), days=2)

    def verify_context(self) -> ssl.SSLContext:
        """What an ordinary HTTPS client uses: trust this CA, no client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = False
        return ctx


def tls_scope(app: ASGIApp, uris: tuple[str, ...] | None = ()) -> ASGIApp:
    """``app`` as the TLS server presents it: every request carries the TLS extension, with
    a client certificate naming ``uris`` (None: no client certificate)."""
    extension: dict[str, Any] = {
        "client_cert_chain": [] if uris is None else ["-----BEGIN CERTIFICATE-----"],
        "client_cert_name": None if uris is None else "CN=test",
        "client_cert_uris": list(uris or ()),
        "tls_version": 0x0304,
    }

    async def shim(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": extension}
        await app(scope, receive, send)

    return shim


def served_serial(port: int, context: ssl.SSLContext) -> int:
    """The serial number of the certificate a server on 127.0.0.1:port answers with now."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number
