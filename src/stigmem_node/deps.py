"""``Annotated`` dependency aliases that carry the node and the caller into routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import Response

from stigmem_node.auth.caller import Caller
from stigmem_node.auth.middleware import MISSING
from stigmem_node.errors import Unauthorized

if TYPE_CHECKING:
    from stigmem_node.node import Node


# Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its
# thread pool, which cost two thread hops per request (about a third of a read's CPU time).
async def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def _caller(request: Request) -> Caller:
    caller = request.scope.get("state", {}).get("caller")
    if not isinstance(caller, Caller):  # only /v1/* routes carry a caller
        raise Unauthorized(MISSING)
    return caller


NodeDep = Annotated["Node", Depends(_node)]
CallerDep = Annotated[Caller, Depends(_caller)]


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Serialise with orjson (the node's own data needs no re-validation)."""
    return Response(
        orjson.dumps(content), status_code=status_code, headers=headers,
        media_type="application/json",
    )  # fmt: skip
