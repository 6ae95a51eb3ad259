"""The request edge: authentication before routing, request logs and metrics.

A plain ASGI middleware (no per-request task or body buffering). With auth required, any
``/v1/*`` request without valid credentials is answered 401 here, before routing, so routes
cannot be enumerated. The resolved caller travels in ``scope["state"]["caller"]``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stigmem_node.auth.caller import ANONYMOUS, Caller

if TYPE_CHECKING:
    from stigmem_node.node import Node

log = logging.getLogger("stigmem.request")

MISSING = "Authorization header required"
INVALID = "Invalid or expired API key"


def bearer_token(scope: Scope) -> str | None:
    """The Bearer credential (scheme case-insensitive), or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token.strip())
            return None
    return None


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, node: Node, exempt: frozenset[str]) -> None:
        self.app = app
        self.node = node
        self.exempt = exempt
        self.auth_required = node.settings.auth_required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            path: str = scope["path"]
            if path.startswith("/v1/") and path not in self.exempt:
                caller = await self._authenticate(scope)
                if isinstance(caller, str):
                    status = 401
                    self.node.metrics.auth_failures.inc()
                    await _send_401(send, caller)
                    return
                scope.setdefault("state", {})["caller"] = caller
            await self.app(scope, receive, send_wrapper)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    async def _authenticate(self, scope: Scope) -> Caller | str:
        token = bearer_token(scope)
        caller = await self.node.keys.authenticate(token) if token else None
        if caller is not None:
            return caller
        if not self.auth_required:
            return ANONYMOUS
        return INVALID if token else MISSING

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics = self.node.metrics
        metrics.requests.labels(scope["method"], template, str(status)).inc()
        metrics.latency.labels(template).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000)


async def _send_401(send: Send, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
