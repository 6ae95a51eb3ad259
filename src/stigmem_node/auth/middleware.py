"""The request edge: authentication before routing, request logs and metrics.

A plain ASGI middleware (no per-request task or body buffering). With auth required, any
``/v1/*`` request without valid credentials is answered 401 here, before routing, so routes
cannot be enumerated. The resolved caller travels in ``scope["state"]["caller"]``.

Then the caller's rate-limit bucket is charged (``auth.ratelimit``; 429 with upstream's body
and ``Retry-After``). Refusals are recorded as coalesced security events (``auth_failed``,
``quota_breach``), never one database write per refused request.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stigmem_node.auth.caller import ANONYMOUS, Caller
from stigmem_node.auth.ratelimit import Denial

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
                    self._audit_auth_failure(scope, caller)
                    await _send_json(send, 401, {"detail": caller}, _WWW_AUTHENTICATE)
                    return
                scope.setdefault("state", {})["caller"] = caller
                if caller.key_id is not None:  # upstream: requests without a key are not limited
                    denial = self.node.ratelimit.check(caller.entity_uri, scope["method"], path)
                    if denial is not None:
                        status = 429
                        self._audit_denial(denial)
                        retry = [(b"retry-after", denial.retry_after_header.encode())]
                        await _send_json(send, 429, denial.body(), retry)
                        return
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

    def _audit_auth_failure(self, scope: Scope, detail: str) -> None:
        client = _client(scope)
        reason = "missing_credentials" if detail == MISSING else "invalid_key"
        self.node.audit.security.record(
            "auth_failed",
            (reason, client),
            detail={
                "reason": reason,
                "client": client,
                "method": scope["method"],
                "path": scope["path"][:256],
            },
        )

    def _audit_denial(self, denial: Denial) -> None:
        self.node.metrics.rate_limited.labels(denial.dimension).inc()
        self.node.audit.security.record(
            "quota_breach",
            (denial.principal, denial.dimension),
            entity_uri=denial.principal,
            detail={"dimension": denial.dimension, "retry_after": round(denial.retry_after, 2)},
        )

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics = self.node.metrics
        metrics.requests.labels(scope["method"], template, str(status)).inc()
        metrics.latency.labels(template).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000)


_WWW_AUTHENTICATE = [(b"www-authenticate", b"Bearer")]


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _send_json(
    send: Send, status: int, content: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
