"""Outbound HTTP to peers: the guarded well-known fetch, pull pages, push batches.

One ``httpx.AsyncClient`` per node: no proxies from the environment, no redirects (a peer's
URL is pinned at registration; a redirect could point anywhere), bounded timeouts and a bound
on every response body, so a hostile or broken peer can cost us little.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from stigmem_node.tls.client import PeerIdentityError, PeerTls

WELL_KNOWN_MAX_BYTES = 64 * 1024
WELL_KNOWN_TIMEOUT_S = 5.0


class PeerError(Exception):
    """A peer request failed; ``retry_after`` (seconds) when the peer asked for a pause."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body


def check_peer_url(url: str) -> str:
    """A peer base URL: http(s), a host, no credentials, query or fragment; no trailing /.

    Raises ``ValueError`` with the reason.
    """
    url = url.strip()
    if len(url) > 2048:
        raise ValueError("node_url is too long")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("node_url must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("node_url must not carry credentials, a query or a fragment")
    return url.rstrip("/")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), 86_400.0)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    delta = moment.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), 86_400.0)


@dataclass(frozen=True, slots=True)
class Page:
    facts: list[Any]
    cursor: str | None
    has_more: bool


class PeerClient:
    """With ``tls`` (mutual TLS), requests present our certificate and the peer's must name
    the node id each request expects (``peer_node_id``), checked before anything is sent."""

    def __init__(
        self, *, timeout_s: float, max_page_bytes: int, tls: PeerTls | None = None
    ) -> None:
        self._timeout_s = timeout_s
        self._max_page_bytes = max_page_bytes
        self._tls = tls
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._http = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=limits,
            transport=tls.transport(limits) if tls is not None else None,
            headers={"User-Agent": "stigmem-node"},
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        url: str,
        *,
        max_bytes: int,
        peer_node_id: str,
        time_limit: float | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any, httpx.Headers]:
        """Send and read at most ``max_bytes`` of JSON. Raises ``PeerError``."""
        extra: dict[str, Any] = {"timeout": time_limit} if time_limit is not None else {}
        try:
            if self._tls is not None:
                extra["extensions"] = self._tls.extensions(url, peer_node_id)
            async with self._http.stream(method, url, **kwargs, **extra) as response:
                if self._tls is not None:
                    await self._tls.check_response(response, url, peer_node_id)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PeerError(
                            f"response over {max_bytes} bytes", status=response.status_code
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise PeerError(f"{type(exc).__name__}: {exc}") from None
        except PeerIdentityError as exc:
            raise PeerError(str(exc)) from None
        raw = b"".join(chunks)
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        return response.status_code, body, response.headers

    async def fetch_well_known(self, node_url: str, *, peer_node_id: str) -> dict[str, Any]:
        """``GET {node_url}/.well-known/stigmem``: 200 with a JSON object, or ``PeerError``."""
        status, body, _ = await self._request(
            "GET",
            f"{node_url}/.well-known/stigmem",
            max_bytes=WELL_KNOWN_MAX_BYTES,
            peer_node_id=peer_node_id,
            time_limit=WELL_KNOWN_TIMEOUT_S,
        )
        if status != 200 or not isinstance(body, dict):
            raise PeerError(f"well-known answered {status}", status=status)
        return body

    async def pull_page(
        self, node_url: str, token: str, cursor: str | None, limit: int, *, peer_node_id: str
    ) -> Page:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        status, body, headers = await self._request(
            "GET",
            f"{node_url}/v1/federation/facts",
            params=params,
            headers={"Authorization": f"Bearer {token}", "Stigmem-Verify": "full"},
            max_bytes=self._max_page_bytes,
            peer_node_id=peer_node_id,
        )
        if status != 200:
            raise PeerError(
                f"pull answered {status}: {_detail(body)}",
                status=status,
                retry_after=parse_retry_after(headers.get("retry-after")),
                body=body,
            )
        if not isinstance(body, dict) or not isinstance(body.get("facts"), list):
            raise PeerError("pull answered a body that is not a fact page", status=status)
        cursor_out = body.get("cursor")
        return Page(
            facts=body["facts"],
            cursor=cursor_out if isinstance(cursor_out, str) and cursor_out else None,
            has_more=body.get("has_more") is True,
        )

    async def push(
        self, url: str, token: str, facts: list[dict[str, Any]], *, peer_node_id: str
    ) -> dict[str, Any]:
        """POST a batch to the peer's advertised push URL; its 202 body. Raises PeerError."""
        status, body, headers = await self._request(
            "POST",
            url,
            content=orjson.dumps({"facts": facts}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            max_bytes=1024 * 1024,
            peer_node_id=peer_node_id,
        )
        if status not in (200, 202) or not isinstance(body, dict):
            raise PeerError(
                f"push answered {status}: {_detail(body)}",
                status=status,
                retry_after=parse_retry_after(headers.get("retry-after")),
                body=body,
            )
        return body


def _detail(body: Any) -> str:
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:200]
    return "(no detail)"
