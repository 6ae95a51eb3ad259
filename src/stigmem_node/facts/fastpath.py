"""``POST /v1/facts`` without the framework's per-request machinery.

Single asserts are the node's hottest request: agents write a fact on every step. Routing,
dependency solving, the ``Request`` object and the response class of the framework cost more
CPU per assert than the assert's own checks (measured with py-spy: about a third of the event
loop's time at 32 clients). This ASGI layer sits inside the auth edge (``EdgeMiddleware`` has
already authenticated, rate-limited and will count the request) and answers the ordinary case
itself, by the same code as the route: ``AssertRequest`` validation, ``FactService.assert_fact``,
the same record and status.

Anything else goes to the framework unchanged, so every refusal keeps its one implementation:
a body that is not JSON, or that the model refuses, is replayed to the route
(which produces the usual 422), as is any request that is not exactly a JSON ``POST
/v1/facts`` from an authenticated caller. ``NodeError``s from the service are rendered by the
same function as the app's exception handler.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stigmem_node.auth.caller import Caller
from stigmem_node.errors import NodeError, error_response
from stigmem_node.facts.models import AssertRequest

if TYPE_CHECKING:
    from stigmem_node.node import Node

PATH = "/v1/facts"
_JSON = b"application/json"
_HEADERS = [(b"content-type", b"application/json")]


class FastAssert:
    """ASGI middleware: serve ordinary ``POST /v1/facts`` requests directly."""

    def __init__(self, app: ASGIApp, node: Node, route: Any) -> None:
        self.app = app
        self.node = node
        self.route = route  # the framework's route: metrics and logs name the same template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        caller = scope.get("state", {}).get("caller")
        if not isinstance(caller, Caller) or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body, disconnected = await _read_body(receive)
        if disconnected:
            return  # the client went away: nothing to answer, nothing written
        try:
            # The standard library's parser, as the route's: orjson reads some bodies
            # differently (an integer beyond 64 bits becomes a float, which would pass).
            req = AssertRequest.model_validate(json.loads(body))
        except (ValueError, ValidationError, TypeError, RecursionError):
            await self.app(scope, _replay(body, receive), send)  # the route's own 422
            return
        scope["route"] = self.route
        try:
            outcome = await self.node.facts.assert_fact(caller, req)
        except NodeError as exc:
            await error_response(exc)(scope, receive, send)
            return
        if outcome.created:
            self.node.metrics.facts_written.inc()
            if outcome.conflict_ids:
                self.node.metrics.conflicts_detected.inc(len(outcome.conflict_ids))
        payload = orjson.dumps(outcome.record)
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [*_HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == _JSON
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0], False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
