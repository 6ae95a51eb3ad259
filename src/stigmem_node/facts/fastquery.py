"""``GET /v1/facts`` without the framework's per-request machinery.

Queries by entity are the node's hottest read (CONTRACT §8 sets their p99 at 1 000 000 facts),
and the query itself is the small part of one: with 15 optional query parameters, the
framework's dependency solving and per-parameter validation held the interpreter lock about
a third of the time per query, and routing another tenth (py-spy ``--gil``, 8 clients at
1 000 000 facts), while every other thread (the readers) waits for that lock.

This ASGI layer sits inside the auth edge (``EdgeMiddleware`` has already authenticated,
rate-limited and will count the request) and answers ordinary queries by calling the route's
own function with the arguments the framework would have given it. It only takes a query
string whose every value has the one plain spelling that the route's type reads the same
way: text as it is (not empty), ``limit`` as 1 to 500 in digits, ``min_confidence`` as a
decimal from 0 to 1, booleans as ``true`` or ``false``; each parameter once, none unknown.
Anything else (a repeated, unknown or empty parameter, ``limit=0``, ``include_expired=1``,
a HEAD) goes to the framework unchanged, so every refusal keeps its one implementation.
``NodeError``s from the route are rendered by the same function as the app's handler.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from stigmem_node.auth.caller import Caller
from stigmem_node.errors import NodeError, error_response

if TYPE_CHECKING:
    from stigmem_node.node import Node

PATH = "/v1/facts"
_TEXT = frozenset(
    {"entity", "relation", "source", "scope", "after", "cursor", "garden_id", "as_of"}
)
_FLAGS = frozenset({"include_contradicted", "include_expired", "attested", "include_low_trust"})
_BOOL = {"true": True, "false": False}
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_CONFIDENCE = re.compile(r"0(?:\.[0-9]{1,16})?|1(?:\.0{1,16})?")

Endpoint = Callable[..., Awaitable[Response]]


def plain_arguments(query_string: bytes) -> dict[str, Any] | None:
    """The route's keyword arguments for ``query_string``, or None when it is not plain.

    Decoded as the framework decodes it (``starlette.datastructures.QueryParams``).
    """
    args: dict[str, Any] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in args or not value:
            return None
        if name in _TEXT:
            args[name] = value
        elif name in _FLAGS:
            flag = _BOOL.get(value)
            if flag is None:
                return None
            args[name] = flag
        elif name == "limit":
            if _LIMIT.fullmatch(value) is None or int(value) > 500:
                return None
            args[name] = int(value)
        elif name == "min_confidence":
            if _CONFIDENCE.fullmatch(value) is None:
                return None
            args[name] = float(value)
        else:
            return None
    return args


class FastQuery:
    """ASGI middleware: serve plain ``GET /v1/facts`` requests by the route's own function."""

    def __init__(self, app: ASGIApp, node: Node, route: Any) -> None:
        self.app = app
        self.node = node
        self.route = route  # the framework's route: metrics and logs name the same template
        self.endpoint: Endpoint = route.endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        caller = scope.get("state", {}).get("caller")
        args = plain_arguments(scope["query_string"]) if isinstance(caller, Caller) else None
        if args is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            response = await self.endpoint(node=self.node, caller=caller, **args)
        except NodeError as exc:
            response = error_response(exc)
        await response(scope, receive, send)
