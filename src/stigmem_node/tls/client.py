"""Calling peers over mutual TLS: our certificate out, theirs bound to the expected node id.

``PeerTls`` is used by the federation client on a node with a CA bundle. Every request to a
peer names the node id it expects; the certificate the peer answers with must carry it as a
URI SAN (upstream's rule). The check runs when the TLS handshake completes, before the
request (and its peer token) is written, through httpx's ``trace`` request extension; a
mismatch closes the connection, is audited (``san_mismatch``, outbound) and fails the
request. A response on a reused connection is checked again, in case one origin answered
for another node id earlier.

A peer URL that is plain ``http://`` is refused unless ``STIGMEM_FEDERATION_INSECURE=1``.
The client context follows the certificate files (``Reloading``): after a rotation the next
request opens connections with the new certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from stigmem_node.clock import Clock, format_ts
from stigmem_node.config import Settings
from stigmem_node.db import Cursor, Database
from stigmem_node.federation import store
from stigmem_node.tls import contexts
from stigmem_node.tls.files import Reloading, TlsFiles, tls_files
from stigmem_node.tls.peer import SAN_MISMATCH, PeerCertificate

MAX_RETIRED = 2
MismatchHook = Callable[[str, str, tuple[str, ...]], Awaitable[None]]


class PeerIdentityError(Exception):
    """The peer is not reachable as the node it should be (message says why, one line)."""


class PeerTls:
    def __init__(self, files: TlsFiles, *, allow_plain_http: bool, on_mismatch: MismatchHook):
        self.context = Reloading("TLS client certificate", files.paths,
                                 lambda: contexts.client_context(files))  # fmt: skip
        self._allow_plain_http = allow_plain_http
        self._on_mismatch = on_mismatch

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, clock: Clock) -> PeerTls | None:
        """None unless the node has mutual TLS (a CA bundle)."""
        files = tls_files(settings)
        if files is None or not files.mutual:
            return None

        async def audit(node_id: str, url: str, presented: tuple[str, ...]) -> None:
            detail = {"node_id": node_id, "url": url[:300], "presented": list(presented),
                      "direction": "outbound"}  # fmt: skip
            await db.write("tls_san_mismatch", _san_mismatch_txn, format_ts(clock.now()),
                           node_id, detail)  # fmt: skip

        return cls(files, allow_plain_http=settings.federation_insecure, on_mismatch=audit)

    def transport(self, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
        return _ReloadingTransport(self.context, limits)

    def extensions(self, url: str, node_id: str) -> dict[str, Any]:
        """Request extensions binding the request's connection to ``node_id``. Raises
        ``PeerIdentityError`` for a plain-HTTP URL (unless insecure federation is on)."""
        if not url.startswith("https://"):
            if self._allow_plain_http:
                return {}
            raise PeerIdentityError(
                f"{url.split('/v1/')[0]} is not https: this node federates over mutual TLS"
                " only (STIGMEM_FEDERATION_INSECURE=1 allows plain-HTTP peers)"
            )

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == "connection.start_tls.complete":
                await self._check(info.get("return_value"), url, node_id, close=True)

        return {"trace": trace}

    async def check_response(self, response: httpx.Response, url: str, node_id: str) -> None:
        """Check the certificate of the connection a response came on. Raises
        ``PeerIdentityError``."""
        if url.startswith("https://"):
            await self._check(response.extensions.get("network_stream"), url, node_id)

    async def _check(self, stream: Any, url: str, node_id: str, *, close: bool = False) -> None:
        sslobj = stream.get_extra_info("ssl_object") if stream is not None else None
        certificate = PeerCertificate.from_ssl_object(sslobj) if sslobj is not None else None
        if certificate is not None and certificate.binds(node_id):
            return
        if close and stream is not None:
            await stream.aclose()
        presented = certificate.uris if certificate is not None else ()
        await self._on_mismatch(node_id, url, presented)
        why = certificate.mismatch(node_id) if certificate else "no certificate"
        raise PeerIdentityError(f"{SAN_MISMATCH} ({why})")


class _ReloadingTransport(httpx.AsyncBaseTransport):
    """An HTTP transport whose TLS context follows the certificate files: a new pool per
    generation; the replaced pools are closed later (they may still carry a request)."""

    def __init__(self, context: Reloading[ssl.SSLContext], limits: httpx.Limits) -> None:
        self._context = context
        self._limits = limits
        self._generation = -1
        self._inner: httpx.AsyncHTTPTransport | None = None
        self._retired: list[httpx.AsyncHTTPTransport] = []

    async def _current(self) -> httpx.AsyncHTTPTransport:
        ctx = self._context.current()
        if self._inner is None or self._generation != self._context.generation:
            if self._inner is not None:
                self._retired.append(self._inner)
                while len(self._retired) > MAX_RETIRED:
                    await self._retired.pop(0).aclose()
            self._inner = httpx.AsyncHTTPTransport(verify=ctx, limits=self._limits, trust_env=False)
            self._generation = self._context.generation
        return self._inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await (await self._current()).handle_async_request(request)

    async def aclose(self) -> None:
        pools = [*self._retired, *([self._inner] if self._inner is not None else [])]
        self._retired, self._inner = [], None
        for pool in pools:
            await pool.aclose()


def _san_mismatch_txn(cur: Cursor, ts: str, node_id: str, detail: dict[str, Any]) -> None:
    peer = store.get_peer_by_node_id_txn(cur, node_id)
    store.audit_txn(cur, ts, "san_mismatch", peer.id if peer else node_id, detail,
                    node_id=node_id)  # fmt: skip
