"""What the sync and async clients share: request specs, response decoding, retry timing.

A client method builds a ``Call`` (method, path, query, body, and how to parse the answer);
``StigmemClient`` and ``AsyncStigmemClient`` only differ in how they send it and how they
wait between retries. Keeping every route in one place means the two can never drift.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from stigmem_node import __version__
from stigmem_node.client.errors import ResponseFormatError, error_for

T = TypeVar("T")

DEFAULT_URL = "http://localhost:8765"
DEFAULT_TIMEOUT_S = 10.0
USER_AGENT = f"stigmem-node-client/{__version__}"


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before resending a request the node asked us to retry.

    Only 429 and 503 are retried: the node refused the request without acting on it, so
    resending any method is safe (and asserts are idempotent by CID anyway). ``Retry-After``
    is honoured when present; a wait longer than ``max_retry_after_s`` is not attempted
    (the error is raised at once, carrying ``retry_after``), so a call never hangs for long.
    """

    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 30.0
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))

    def delay(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before retry ``attempt`` (0-based), or None to give up now."""
        if response.status_code not in self.statuses or attempt >= self.max_retries:
            return None
        hinted = retry_after_seconds(response.headers.get("Retry-After"))
        if hinted is not None:
            return hinted if hinted <= self.max_retry_after_s else None
        # Full jitter keeps many clients backing off together from retrying in lockstep.
        ceiling = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)


NO_RETRY = RetryPolicy(max_retries=0)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the node and how to turn its 2xx JSON (None for 204) into ``T``."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] | None = None
    json: Any = None

    def query(self) -> dict[str, Any] | None:
        """The query parameters without the unset (None) ones."""
        if not self.params:
            return None
        return {key: value for key, value in self.params.items() if value is not None}


def segment(value: str) -> str:
    """One path segment (ids, CIDs, slugs, entity URIs); ``:`` stays readable."""
    if not value:
        raise ValueError("an id in the request path must not be empty")
    return quote(value, safe=":")


def headers(api_key: str | None, session_id: str | None) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    if session_id:
        out["Stigmem-Session"] = session_id
    return out


def timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def decode(call: Call[T], response: httpx.Response) -> T:
    """The parsed 2xx answer of ``call``.

    Raises:
        APIError: (a subclass per status) for an error status, with the server's detail.
        ResponseFormatError: a 2xx answer that is not JSON of the documented shape.
    """
    if response.is_success:
        data = _json_or_none(response) if response.content else None
        try:
            return call.parse(data)
        except (ValidationError, TypeError, KeyError) as exc:
            raise ResponseFormatError(
                f"{call.method} {call.path} answered {response.status_code} with an unexpected "
                f"body: {exc}"
            ) from None
    body = _json_or_none(response)
    if body is None:
        body = response.text or response.reason_phrase
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    raise error_for(response.status_code, body, retry_after)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def failure_reason(exc: httpx.TransportError) -> str:
    """Why a request never got an answer, for ``ConnectionFailed``."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within the timeout ({type(exc).__name__})"
    return str(exc) or type(exc).__name__
