"""Exceptions raised by the Stigmem client.

Every failure is a ``StigmemError``. A response the node answered with an error status is an
``APIError`` carrying the HTTP ``status`` and the server's ``detail`` exactly as sent (a string,
a ``{"code", "message", ...}`` object, or FastAPI's 422 list); ``str(error)`` is one readable
line. A node that cannot be reached (refused connection, DNS, timeout) is a ``ConnectionFailed``.
"""

from __future__ import annotations

from typing import Any


class StigmemError(Exception):
    """Base of every error the client raises."""


class ConnectionFailed(StigmemError):
    """The node could not be reached, or did not answer within the timeout."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the Stigmem node at {url}: {reason}")
        self.url = url
        self.reason = reason


class ResponseFormatError(StigmemError):
    """The node answered 2xx with a body that is not the documented shape."""


class APIError(StigmemError):
    """The node answered with an error status; ``detail`` is the server's ``detail``."""

    def __init__(self, status: int, detail: Any, body: Any = None) -> None:
        self.status = status
        self.detail = detail
        self.body = body
        super().__init__(f"HTTP {status}: {describe_detail(detail)}")

    @property
    def code(self) -> str | None:
        """The machine-readable ``code`` of an object detail, else None."""
        if isinstance(self.detail, dict) and isinstance(self.detail.get("code"), str):
            return str(self.detail["code"])
        return None


class BadRequest(APIError):
    """400: the node refused the request's content."""


class AuthenticationFailed(APIError):
    """401: no API key, or the key is unknown, expired or revoked."""


class PermissionDenied(APIError):
    """403: the key lacks the permission (or garden role) the route needs."""


class NotFound(APIError):
    """404."""


class Conflict(APIError):
    """409 (already resolved, duplicate, CID mismatch...)."""


class PayloadTooLarge(APIError):
    """413: a value or batch above the node's limits."""


class Unprocessable(APIError):
    """422: the body or a query parameter failed validation."""


class RateLimited(APIError):
    """429 after the retries ran out; ``retry_after`` is the server's wait in seconds."""

    def __init__(
        self, status: int, detail: Any, body: Any = None, retry_after: float | None = None
    ):
        super().__init__(status, detail, body)
        self.retry_after = retry_after


class Unavailable(APIError):
    """503 after the retries ran out."""


class ServerError(APIError):
    """Any other 5xx."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    503: Unavailable,
}


def error_for(status: int, body: Any, retry_after: float | None = None) -> APIError:
    """The exception for an error response (``body`` is the decoded JSON or the raw text)."""
    detail = _detail_of(body)
    if status == 429:
        return RateLimited(status, detail, body, retry_after)
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    return cls(status, detail, body)


def _detail_of(body: Any) -> Any:
    if isinstance(body, dict):
        if "detail" in body:
            return body["detail"]
        if "error" in body:  # the rate limiter's and the mTLS guard's non-envelope bodies
            return body["error"]
    return body


def describe_detail(detail: Any) -> str:
    """One line for a ``detail``: the string, ``code: message``, or the 422 items joined."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict):
        code, message = detail.get("code"), detail.get("message")
        if code and message:
            return f"{code}: {message}"
        return str(code or message or detail)
    if isinstance(detail, list):
        return "; ".join(_describe_item(item) for item in detail) or "validation error"
    return "" if detail is None else str(detail)


def _describe_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = ".".join(str(part) for part in item.get("loc", []) if part != "body")
    msg = str(item.get("msg", "invalid"))
    return f"{loc}: {msg}" if loc else msg
