"""``GET /v1/facts`` is served by ``facts.fastquery`` when its query string is plain, else by
the framework's route: both must answer alike, and refusals keep their one implementation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from stigmem_node.facts import fastquery
from stigmem_node.facts.fastquery import plain_arguments
from tests.conftest import NodeHarness, fact_body

# The framework ignores a parameter the route does not take; the fast path leaves any such
# query to the framework. Adding one is how a test asks for the route's own answer.
ROUTED = {"unknown": "1"}


@pytest.fixture
async def stocked(client: httpx.AsyncClient) -> httpx.AsyncClient:
    for i in range(4):
        created = await client.post("/v1/facts", json=fact_body(entity=f"user:n{i}", scope="team"))
        assert created.status_code == 201
    await client.post("/v1/facts", json=fact_body(entity="user:café", confidence=0.4))
    await client.post("/v1/facts", json=fact_body(value={"type": "string", "v": "red"}))
    await client.post("/v1/facts", json=fact_body(value={"type": "string", "v": "green"}))
    return client


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each ``GET /v1/facts`` since was taken by the fast path."""
    seen: list[bool] = []

    def recording(query_string: bytes) -> dict[str, Any] | None:
        args = plain_arguments(query_string)
        seen.append(args is not None)
        return args

    monkeypatch.setattr(fastquery, "plain_arguments", recording)
    return seen


PLAIN: list[dict[str, Any]] = [
    {},
    {"entity": "user:n1"},
    {"entity": "user:café"},  # percent-encoded UTF-8, decoded as the framework decodes it
    {"entity": "user:alice", "relation": "pref:color", "include_contradicted": "true"},
    {"scope": "team", "limit": "2"},
    {"relation": "pref:color", "min_confidence": "0.5", "include_expired": "false"},
    {"source": "agent:bot", "attested": "false", "include_low_trust": "true", "limit": "500"},
    {"after": "2000-01-01T00:00:00Z", "min_confidence": "1"},
]


@pytest.mark.parametrize("params", PLAIN)
async def test_fast_path_and_route_give_the_same_page(
    stocked: httpx.AsyncClient, served: list[bool], params: dict[str, Any]
) -> None:
    fast = await stocked.get("/v1/facts", params=params)
    routed = await stocked.get("/v1/facts", params={**params, **ROUTED})
    assert served == [True, False]
    assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
    assert fast.content == routed.content
    for header in ("content-type", "content-length", "x-total-count"):
        assert fast.headers[header] == routed.headers[header]


async def test_pages_of_the_fast_path_chain(stocked: httpx.AsyncClient, served: list[bool]) -> None:
    first = (await stocked.get("/v1/facts", params={"limit": "3"})).json()
    second = await stocked.get("/v1/facts", params={"limit": "3", "cursor": first["cursor"]})
    routed = await stocked.get(
        "/v1/facts", params={"limit": "3", "cursor": first["cursor"], **ROUTED}
    )
    assert served == [True, True, False]
    assert second.content == routed.content
    assert {f["id"] for f in first["facts"]}.isdisjoint(f["id"] for f in second.json()["facts"])


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"cursor": "bm9wZQ"}, 400, {"code": "invalid_cursor"}),
        ({"after": "yesterday"}, 400, {"code": "invalid_timestamp"}),
        ({"scope": "nope"}, 400, None),
        ({"as_of": "2026-01-01T00:00:00Z"}, 501, {"code": "time_travel_plugin_not_loaded"}),
        ({"garden_id": "stigmem://x/garden/none"}, 404, None),
    ],
)
async def test_refusals_of_the_route_are_the_same_on_the_fast_path(
    stocked: httpx.AsyncClient,
    served: list[bool],
    params: dict[str, Any],
    status: int,
    detail: dict[str, str] | None,
) -> None:
    fast = await stocked.get("/v1/facts", params=params)
    routed = await stocked.get("/v1/facts", params={**params, **ROUTED})
    assert served == [True, False]
    assert fast.status_code == routed.status_code == status
    assert fast.content == routed.content
    if detail is not None:
        assert fast.json()["detail"]["code"] == detail["code"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"min_confidence": "2"},
        {"min_confidence": "-0.1"},
        {"include_expired": "maybe"},
    ],
)
async def test_values_the_route_refuses_get_its_422(
    stocked: httpx.AsyncClient, served: list[bool], params: dict[str, Any]
) -> None:
    response = await stocked.get("/v1/facts", params=params)
    assert served == [False]
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", {}),
        (b"entity=user%3Aalice&limit=10", {"entity": "user:alice", "limit": 10}),
        (b"entity=a+b", {"entity": "a b"}),
        (b"min_confidence=0.25&attested=true", {"min_confidence": 0.25, "attested": True}),
        (b"min_confidence=1.000", {"min_confidence": 1.0}),
        (b"include_contradicted=false", {"include_contradicted": False}),
    ],
)
def test_plain_query_strings(query: bytes, expected: dict[str, Any]) -> None:
    assert plain_arguments(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        b"entity=a&entity=b",  # repeated: the framework decides which counts
        b"entity=",  # empty
        b"entity",
        b"unknown=1",
        b"limit=0",
        b"limit=007",
        b"limit=501",
        b"limit=1e2",
        b"min_confidence=1.5",
        b"min_confidence=.5",
        b"min_confidence=0.5e0",
        b"include_expired=1",
        b"include_expired=True",
        b"attested=yes",
    ],
)
def test_other_query_strings_go_to_the_framework(query: bytes) -> None:
    assert plain_arguments(query) is None


async def test_fast_path_is_counted_under_the_route(
    stocked: httpx.AsyncClient, served: list[bool]
) -> None:
    assert (await stocked.get("/v1/facts", params={"entity": "user:n1"})).status_code == 200
    assert served == [True]
    metrics = (await stocked.get("/metrics")).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("stigmem_http_requests_total{")
        and 'route="/v1/facts"' in line
        and 'method="GET"' in line
        and 'status="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 1


async def test_callers_without_read_are_refused_alike(
    harness: NodeHarness, client: httpx.AsyncClient, served: list[bool]
) -> None:
    created = await client.post(
        "/v1/auth/keys", json={"entity_uri": "user:writer", "permissions": ["write"]}
    )
    assert created.status_code == 201, created.text
    async with harness.client(created.json()["raw_key"]) as writer:
        fast = await writer.get("/v1/facts")
        routed = await writer.get("/v1/facts", params=ROUTED)
    assert served == [True, False]
    assert fast.status_code == routed.status_code == 403
    assert fast.content == routed.content


async def test_unauthenticated_queries_never_reach_the_fast_path(
    harness: NodeHarness, served: list[bool]
) -> None:
    async with harness.client(None) as anonymous:
        refused = await anonymous.get("/v1/facts", params={"entity": "user:n1"})
    assert refused.status_code == 401
    assert served == []
