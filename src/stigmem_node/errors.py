"""One error hierarchy and one handler, producing upstream's wire envelopes.

Every error body is ``{"detail": <string | {"code", "message", ...}>}``; request validation
keeps FastAPI's 422 list form. Services raise these; routes never build error bodies.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

Detail = str | dict[str, Any] | list[Any]


class NodeError(Exception):
    """Base of every error the node reports to a client."""

    status = 400

    def __init__(
        self,
        detail: Detail,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail}


class BadRequest(NodeError):
    status = 400


class Unauthorized(NodeError):
    status = 401

    def __init__(self, detail: Detail) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(NodeError):
    status = 403


class NotFound(NodeError):
    status = 404


class Conflict(NodeError):
    status = 409


class PayloadTooLarge(NodeError):
    status = 413


class Unprocessable(NodeError):
    """422 in FastAPI's list form, so clients parse it like any validation error."""

    status = 422

    def __init__(self, loc: list[str | int], msg: str, err_type: str, value: Any = None) -> None:
        super().__init__([{"type": err_type, "loc": loc, "msg": msg, "input": value}])


class RateLimited(NodeError):
    """429 with upstream's non-envelope body."""

    status = 429

    def __init__(self, body: dict[str, Any], retry_after: int) -> None:
        super().__init__("quota_exceeded", headers={"Retry-After": str(retry_after)})
        self._body = body

    def body(self) -> dict[str, Any]:
        return self._body


class NotImplementedYet(NodeError):
    status = 501


class Unavailable(NodeError):
    status = 503


def error_response(exc: NodeError) -> Response:
    return Response(
        orjson.dumps(exc.body(), default=str),
        status_code=exc.status,
        headers=exc.headers,
        media_type="application/json",
    )


def _json_safe(value: Any) -> Any:
    """Validation errors echo the client's input; make it JSON.

    The input may hold what orjson cannot encode (lone surrogates, integers beyond 64 bits),
    which must still produce the 422, never a 500.
    """
    try:
        return orjson.loads(orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _scrub(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, dict):
        return {str(_scrub(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return _scrub(repr(value))


async def _node_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, NodeError)
    return error_response(exc)


async def _validation_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        item = {k: err[k] for k in ("type", "loc", "msg", "input") if k in err}
        if "ctx" in err:
            item["ctx"] = err["ctx"]
        errors.append(item)
    return Response(
        orjson.dumps({"detail": _json_safe(errors)}),
        status_code=422,
        media_type="application/json",
    )


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NodeError, _node_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
