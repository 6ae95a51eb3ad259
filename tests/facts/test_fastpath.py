"""``POST /v1/facts`` is served by ``facts.fastpath`` when it is an ordinary JSON assert, else
by the framework's route: both must answer alike, and refusals keep their one implementation."""

from __future__ import annotations

import json

import httpx

from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows

VOLATILE = {"id", "timestamp", "hlc", "cid", "entity"}


def _stable(record: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in record.items() if k not in VOLATILE}


async def test_fast_path_and_route_give_the_same_record(client: httpx.AsyncClient) -> None:
    fast = await client.post("/v1/facts", json=fact_body(entity="user:fast"))
    # A JSON media type other than application/json is left to the framework's route.
    routed = await client.post(
        "/v1/facts",
        content=json.dumps(fact_body(entity="user:routed")),
        headers={"content-type": "application/vnd.stigmem+json"},
    )
    assert fast.status_code == routed.status_code == 201, (fast.text, routed.text)
    assert list(fast.json()) == list(routed.json())  # same fields, same order
    assert _stable(fast.json()) == _stable(routed.json())
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert int(fast.headers["content-length"]) == len(fast.content)


async def test_fast_path_is_counted_under_the_route(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/facts", json=fact_body())).status_code == 201
    metrics = (await client.get("/metrics")).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("stigmem_http_requests_total{")
        and 'route="/v1/facts"' in line
        and 'method="POST"' in line
        and 'status="201"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 1


async def test_a_body_the_model_refuses_gets_the_routes_422(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    refused = await client.post("/v1/facts", json=fact_body(confidence=2))
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail[0]["loc"] == ["body", "confidence"]
    broken = await client.post(
        "/v1/facts", content=b'{"entity": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
    assert count_rows(harness) == 0
    assert count_rows(harness, "audit_log", "event_type = 'fact_write'") == 0


async def test_charset_parameter_still_takes_the_fast_path(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/facts",
        content=json.dumps(fact_body()).encode(),
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 201
    assert response.json()["entity"] == "user:alice"


async def test_unauthenticated_asserts_never_reach_the_fast_path(
    harness: NodeHarness,
) -> None:
    async with harness.client(None) as anonymous:
        refused = await anonymous.post("/v1/facts", json=fact_body())
    assert refused.status_code == 401
    assert count_rows(harness) == 0
