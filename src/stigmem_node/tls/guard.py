"""The transport guard: what a TLS node answers before any route runs.

On a node with ``STIGMEM_TLS_CERT_PATH``, a request that did not arrive over TLS (plain HTTP
on the node's port, which the server still parses so it can answer) is refused with 421:
``/v1/federation*`` with upstream's ``{"error": "mTLS required", ...}`` body, anything else
with the same shape saying TLS is required. Only ``/healthz`` answers over plain HTTP, so
container health checks keep working. With a CA bundle (mutual TLS), the routes peers call
also refuse a TLS connection that presented no client certificate (421), and the request's
certificate is published in ``peer.REQUEST_PEER`` for peer-token authentication.

Refusals are security events (``tls_refused`` with a ``reason``), coalesced per client and
reason like every refusal that writes nothing. The guard sits outside authentication, so a
plaintext request is refused before its credentials are looked at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from stigmem_node.tls.files import tls_files
from stigmem_node.tls.peer import REQUEST_PEER, PeerCertificate, RequestPeer

if TYPE_CHECKING:
    from stigmem_node.node import Node

PLAINTEXT_OK = frozenset({"/healthz"})
FEDERATION_PREFIX = "/v1/federation"
MTLS_REQUIRED = {
    "error": "mTLS required",
    "detail": "Federation transport requires mutual TLS (spec §22.1). Connect via HTTPS with a"
    " valid node certificate.",
}
TLS_REQUIRED = {
    "error": "TLS required",
    "detail": "This node serves HTTPS only: connect with https:// (plain HTTP is answered on"
    " /healthz only).",
}
EVENT = "tls_refused"


def request_certificate(scope: Scope) -> tuple[bool, PeerCertificate | None]:
    """Whether the request came over TLS, and the client's verified certificate."""
    ext = (scope.get("extensions") or {}).get("tls")
    if not isinstance(ext, dict):
        return False, None
    chain = ext.get("client_cert_chain") or []
    if not chain:
        return True, None
    uris = tuple(ext.get("client_cert_uris") or ())
    return True, PeerCertificate(uris, str(ext.get("client_cert_name") or ""), str(chain[0]))


class TransportGuard:
    def __init__(self, app: ASGIApp, node: Node, peer_paths: frozenset[str]) -> None:
        self.app = app
        self.node = node
        self.files = tls_files(node.settings)
        self.peer_paths = peer_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.files is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        over_tls, certificate = request_certificate(scope)
        if not over_tls and path not in PLAINTEXT_OK:
            federation = path.startswith(FEDERATION_PREFIX)
            await self._refuse(scope, send, "plaintext", MTLS_REQUIRED if federation else
                               TLS_REQUIRED)  # fmt: skip
            return
        if not self.files.mutual:
            await self.app(scope, receive, send)
            return
        if certificate is None and path in self.peer_paths:
            await self._refuse(scope, send, "no_client_certificate", MTLS_REQUIRED)
            return
        token = REQUEST_PEER.set(RequestPeer(certificate))
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_PEER.reset(token)

    async def _refuse(self, scope: Scope, send: Send, reason: str, body: dict[str, Any]) -> None:
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        self.node.audit.security.record(
            EVENT,
            (address, reason),
            detail={"reason": reason, "client": address, "path": scope["path"][:200]},
        )
        payload = orjson.dumps(body)
        await send({
            "type": "http.response.start",
            "status": 421,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": payload})
