"""Serving HTTPS: every accepted connection passes through ``TlsGateProtocol`` first.

The gate looks at the connection's first byte without consuming it (``MSG_PEEK`` on a
duplicate of the socket). A TLS record starts the handshake with the context of the moment
(``Reloading``: replaced certificate files are used by the next connection); anything else is
plain HTTP, handed to the HTTP protocol as is, so the transport guard can answer it with 421
instead of the client seeing a reset. A refused handshake (expired or unknown certificate,
TLS < 1.3, a client that rejects ours) is a ``tls_refused`` security event with the reason.

After a handshake the connection is handed to uvicorn's HTTP protocol, whose ASGI app is
wrapped for that connection only, so every request's scope carries ASGI's TLS extension
with the verified client certificate. Bytes the client sends between the end of the
handshake and the hand-over are kept and replayed.

The selector event loop is used (``loop="asyncio"``): the readiness wait on the duplicate
socket relies on it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any, Protocol, cast

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from stigmem_node.config import Settings
from stigmem_node.tls import contexts
from stigmem_node.tls.files import Reloading, TlsFiles, tls_files
from stigmem_node.tls.guard import EVENT
from stigmem_node.tls.peer import PeerCertificate, tls_extension

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from stigmem_node.audit.security import SecurityAudit

log = logging.getLogger("stigmem.tls")

HANDSHAKE_TIMEOUT_S = 10.0
# Closing a connection sends close_notify; a client idling in a pool may never answer it, and
# the connection (and a graceful shutdown waiting for it) would hang for asyncio's 30 s.
SHUTDOWN_TIMEOUT_S = 2.0
TLS_RECORD_HANDSHAKE = b"\x16"
# OpenSSL verification results a client certificate can fail with, by name.
VERIFY_REASONS = {
    2: "unknown_ca", 18: "unknown_ca", 19: "unknown_ca", 20: "unknown_ca", 21: "unknown_ca",
    24: "unknown_ca", 7: "bad_signature", 9: "certificate_not_yet_valid",
    10: "certificate_expired", 23: "certificate_revoked", 26: "certificate_purpose",
}  # fmt: skip


class _HasApp(Protocol):
    app: ASGIApp


def refusal_reason(exc: BaseException) -> str | None:
    """A stable reason for a failed handshake; None for a connection that merely dropped."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return VERIFY_REASONS.get(int(exc.verify_code or 0), "certificate_invalid")
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").lower()
        if any(s in reason for s in ("unsupported_protocol", "protocol_version", "no_protocols")):
            return "protocol_version"
        if "alert" in reason:  # the client refused the handshake (e.g. it distrusts our cert)
            return f"client_{reason.split('alert_', 1)[-1]}"
        return reason or "tls_error"
    if isinstance(exc, ConnectionAbortedError) and "handshake" in str(exc):
        return "handshake_timeout"
    return None


class ServerTls:
    """The listening side of a TLS node: current context, refusal audit, live admissions."""

    def __init__(self, files: TlsFiles, security: SecurityAudit) -> None:
        self.files = files
        self.security = security
        self.context = Reloading("TLS server certificate", files.paths,
                                 lambda: contexts.server_context(files))  # fmt: skip
        self.admissions: set[asyncio.Task[None]] = set()

    def refused(self, client: tuple[Any, ...] | None, exc: BaseException) -> None:
        reason = refusal_reason(exc)
        if reason is None:
            return
        address = str(client[0]) if client else "unknown"
        log.debug("TLS handshake from %s refused: %s (%s)", address, reason, exc)
        detail = {"reason": reason, "client": address, "message": str(exc)[:300]}
        self.security.record(EVENT, (address, reason), detail=detail)

    def protocol_class(self) -> type[asyncio.Protocol]:
        """The ``http`` protocol class for ``uvicorn.Config``, bound to this server."""
        bound = self

        class Gate(TlsGateProtocol):
            server = bound

        return Gate


class TlsGateProtocol(asyncio.Protocol):
    server: ServerTls

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._loop = _loop or asyncio.get_event_loop()
        self._inner: asyncio.Protocol = AutoHTTPProtocol(  # type: ignore[call-arg]
            config=config, server_state=server_state, app_state=app_state, _loop=_loop
        )
        if not hasattr(self._inner, "app"):
            raise RuntimeError("this uvicorn's HTTP protocol keeps no per-connection app")
        self._early: list[bytes] = []
        self._eof = False
        self._lost: list[Exception | None] = []

    # -- the raw connection, then the TLS layer until hand-over ---------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = cast(asyncio.Transport, transport)
        raw.pause_reading()  # nothing is read until we know what the client speaks
        task = self._loop.create_task(self._admit(raw))
        self.server.admissions.add(task)
        task.add_done_callback(self.server.admissions.discard)

    def data_received(self, data: bytes) -> None:
        self._early.append(data)

    def eof_received(self) -> bool | None:
        self._eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost.append(exc)

    # -- admission -------------------------------------------------------------------------
    async def _admit(self, raw: asyncio.Transport) -> None:
        client = raw.get_extra_info("peername")
        try:
            first = await asyncio.wait_for(_first_byte(self._loop, raw), HANDSHAKE_TIMEOUT_S)
        except (OSError, TimeoutError, asyncio.CancelledError) as exc:
            raw.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not first or self._lost:
            raw.close()
            return
        if first != TLS_RECORD_HANDSHAKE:
            self._hand_over(raw, None)
            raw.resume_reading()
            return
        try:
            secured: asyncio.Transport | None = await self._loop.start_tls(
                raw,
                self,
                self.server.context.current(),
                server_side=True,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                ssl_shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            )
        except (OSError, ssl.SSLError) as exc:
            self.server.refused(client, exc)
            return
        if secured is None:  # the connection went away during the handshake
            return
        sslobj = secured.get_extra_info("ssl_object")
        self._hand_over(secured, tls_extension(sslobj, PeerCertificate.from_ssl_object(sslobj)))

    def _hand_over(self, transport: asyncio.Transport, extension: dict[str, Any] | None) -> None:
        """Give the connection to the HTTP protocol (replaying what arrived meanwhile)."""
        inner = self._inner
        if extension is not None:
            holder = cast(_HasApp, inner)
            holder.app = _with_tls(holder.app, extension)
        transport.set_protocol(inner)
        inner.connection_made(transport)
        if self._early:
            inner.data_received(b"".join(self._early))
            self._early.clear()
        if self._eof:
            inner.eof_received()
        for exc in self._lost:
            inner.connection_lost(exc)


async def _first_byte(loop: asyncio.AbstractEventLoop, transport: asyncio.Transport) -> bytes:
    """The connection's first byte, left unread; b"" when the client closed first."""
    sock: socket.socket = transport.get_extra_info("socket").dup()
    try:
        while True:
            try:
                return sock.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                pass
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(sock.fileno())
    finally:
        sock.close()


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


def _with_tls(app: ASGIApp, extension: dict[str, Any]) -> ASGIApp:
    """``app`` with ``extension`` as ``scope["extensions"]["tls"]`` of every request."""

    async def connection_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": extension}
        await app(scope, receive, send)

    return connection_app


def uvicorn_options(settings: Settings, security: SecurityAudit) -> dict[str, Any]:
    """Extra ``uvicorn.run`` arguments for serving TLS ({} without TLS). Forwarded headers
    are not trusted on a TLS node: the connection itself says what the client is."""
    files = tls_files(settings)
    if files is None:
        return {}
    server = ServerTls(files, security)
    log.info("serving HTTPS only (TLS 1.3)%s on %s:%s", ", client certificates requested"
             if files.mutual else "", settings.host, settings.port)  # fmt: skip
    return {"http": server.protocol_class(), "loop": "asyncio", "proxy_headers": False}
