"""What a load-generator connection sends: one request factory per scenario kind.

A factory is built inside the generator process from a picklable ``RequestPlan`` and returns
the raw HTTP/1.1 request bytes for the ``n``-th request of one connection. Building bytes
directly (no client library) keeps the generator's own CPU cost per request small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from bench.bodies import fact_body

RequestFactory = Callable[[int], bytes]


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """A scenario's requests, in a form that crosses process boundaries.

    ``kind`` picks the factory; ``params`` are its arguments; ``expect`` the status every
    response must have and ``expect_body`` a substring of its body (else it is an error).
    """

    kind: str
    expect: int
    params: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    expect_body: bytes | None = None  # a substring every good response body contains


def _head(method: str, target: str, host: str, token: str | None, length: int | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _post(target: str, host: str, token: str | None, payload: Any) -> bytes:
    body = orjson.dumps(payload)
    return _head("POST", target, host, token, len(body)) + body


def build_factory(plan: RequestPlan, host: str, stream: str) -> RequestFactory:
    """The factory of ``plan`` for one connection; ``stream`` makes its facts distinct."""
    p = plan.params
    token = plan.token
    if plan.kind == "assert":
        path = p.get("path", "/v1/facts")
        return lambda n: _post(path, host, token, fact_body(stream, n))
    if plan.kind == "batch":
        size = int(p["size"])
        return lambda n: _post(
            "/v1/facts/batch",
            host,
            token,
            {"facts": [fact_body(stream, n * size + i) for i in range(size)], "atomic": False},
        )
    if plan.kind == "query":
        targets = [b"/v1/facts?" + urlencode(q).encode() for q in p["queries"]]
        return _cycle(targets, "GET", host, token)
    if plan.kind == "get":
        targets = [b"/v1/facts/" + quote(key, safe=":").encode() for key in p["keys"]]
        return _cycle(targets, "GET", host, token)
    if plan.kind == "recall":
        requests = [_post("/v1/recall", host, token, body) for body in p["bodies"]]
        return lambda n: requests[n % len(requests)]
    raise ValueError(f"unknown request kind {plan.kind!r}")


def _cycle(targets: list[bytes], method: str, host: str, token: str | None) -> RequestFactory:
    if not targets:
        raise ValueError("a read scenario needs at least one target")
    heads = [_head(method, t.decode(), host, token, None) for t in targets]
    count = len(heads)
    return lambda n: heads[n % count]
