"""GET /v1/facts: filters, retraction, expiry, TTL, totals (CONTRACT §3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.clock import FakeClock, format_ts
from tests.conftest import NodeHarness, fact_body, start_node


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for h in start_node(tmp_path, clock=FakeClock()):
        yield h


@pytest.fixture
async def cclient(clocked: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked.client() as c:
        yield c


async def ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/v1/facts", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == int(response.headers["X-Total-Count"])
    return [f["id"] for f in body["facts"]]


async def post(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/facts", json=fact_body(**overrides))
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


async def test_retraction_hides_the_retracted_fact(client: httpx.AsyncClient) -> None:
    fact = await post(client)
    other = await post(client, entity="user:bob")
    retraction = await post(client, confidence=0.0)
    assert retraction["id"] != fact["id"]
    assert retraction["confidence"] == 0.0
    assert retraction["contradicted"] is False
    visible = await ids(client)
    assert fact["id"] not in visible
    assert other["id"] in visible
    assert retraction["id"] in visible  # the retraction itself is a fact (min_confidence=0)
    assert await ids(client, min_confidence=0.01) == [other["id"]]
    assert await ids(client, entity="user:alice", min_confidence=0.01) == []


async def test_reassert_after_retraction_is_visible_again(client: httpx.AsyncClient) -> None:
    first = await post(client)
    await post(client, confidence=0.0)
    again = await post(client)
    assert again["id"] != first["id"]
    assert await ids(client, min_confidence=0.5) == [again["id"]]


async def test_retraction_only_hides_the_same_value(client: httpx.AsyncClient) -> None:
    blue = await post(client, scope="team")
    red = await post(client, scope="team", value={"type": "string", "v": "red"})
    await post(client, scope="team", confidence=0.0)  # retracts blue only
    assert await ids(client, entity="user:alice", scope="team", min_confidence=0.5) == [red["id"]]
    got = (await client.get(f"/v1/facts/{red['id']}")).json()
    assert got["contradicted"] is False  # its rival is retracted
    assert blue["id"] not in await ids(client, include_contradicted=True)


async def test_expiry_with_valid_until(clocked: NodeHarness, cclient: httpx.AsyncClient) -> None:
    assert clocked.clock is not None
    soon = format_ts(clocked.clock.now().replace(microsecond=0)).replace(".000000", "")
    expiring = await post(cclient, valid_until=_plus(clocked, 60))
    forever = await post(cclient, entity="user:bob")
    assert soon  # the clock is frozen at a known instant
    assert await ids(cclient) == [forever["id"], expiring["id"]]
    clocked.clock.advance(59)
    assert expiring["id"] in await ids(cclient)
    clocked.clock.advance(2)
    assert await ids(cclient) == [forever["id"]]
    assert await ids(cclient, include_expired=True) == [forever["id"], expiring["id"]]
    # Expiry is read-time filtering: the fact itself is still there by id.
    assert (await cclient.get(f"/v1/facts/{expiring['id']}")).status_code == 200


async def test_already_expired_fact_is_hidden_at_once(
    clocked: NodeHarness, cclient: httpx.AsyncClient
) -> None:
    past = await post(cclient, valid_until="2000-01-01T00:00:00Z")
    assert await ids(cclient) == []
    assert await ids(cclient, include_expired=True) == [past["id"]]


async def test_ttl_relation_sets_expiry(clocked: NodeHarness, cclient: httpx.AsyncClient) -> None:
    assert clocked.clock is not None
    await post(cclient, relation="stigmem:ttl", value={"type": "number", "v": 30})
    fact = await post(cclient)
    assert fact["valid_until"] == _plus(clocked, 30)
    explicit = await post(cclient, relation="pref:size", valid_until=_plus(clocked, 1000))
    assert explicit["valid_until"] == _plus(clocked, 1000)  # an explicit expiry wins
    other = await post(cclient, entity="user:bob")
    assert other["valid_until"] is None  # TTL is per entity
    clocked.clock.advance(31)
    visible = await ids(cclient)
    assert fact["id"] not in visible
    assert explicit["id"] in visible


@pytest.mark.parametrize("v", [-1, "ten", True])
async def test_ttl_must_be_a_non_negative_number(
    harness: NodeHarness, client: httpx.AsyncClient, v: Any
) -> None:
    value_type = "string" if isinstance(v, str) else "boolean" if isinstance(v, bool) else "number"
    response = await client.post(
        "/v1/facts", json=fact_body(relation="stigmem:ttl", value={"type": value_type, "v": v})
    )
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "invalid_ttl"
    assert await ids(client, include_expired=True) == []


async def test_filters(clocked: NodeHarness, cclient: httpx.AsyncClient) -> None:
    assert clocked.clock is not None
    a = await post(cclient, confidence=0.4)
    clocked.clock.advance(10)
    middle = format_ts(clocked.clock.now())
    clocked.clock.advance(10)
    b = await post(cclient, entity="user:bob", relation="pref:size", source="agent:two")
    c = await post(cclient, entity="user:carol", scope="public", value={"type": "number", "v": 1})
    assert await ids(cclient, min_confidence=0.5) == [c["id"], b["id"]]
    assert await ids(cclient, min_confidence=0.4) == [c["id"], b["id"], a["id"]]
    assert await ids(cclient, after=middle) == [c["id"], b["id"]]
    assert await ids(cclient, after="2000-01-01") == [c["id"], b["id"], a["id"]]
    assert await ids(cclient, source="agent:two") == [b["id"]]
    assert await ids(cclient, scope="public") == [c["id"]]
    assert await ids(cclient, scope="company") == [b["id"], a["id"]]
    assert await ids(cclient, relation="pref:size") == [b["id"]]
    assert await ids(cclient, relation="pref:size", entity="user:alice") == []
    assert await ids(cclient, entity="user:carol", scope="public") == [c["id"]]


async def test_after_accepts_offsets(clocked: NodeHarness, cclient: httpx.AsyncClient) -> None:
    assert clocked.clock is not None
    fact = await post(cclient)  # at 2026-01-01T00:00:00Z
    assert await ids(cclient, after="2026-01-01T00:29:59+00:30") == [fact["id"]]  # 23:59:59Z
    assert await ids(cclient, after="2026-01-01T00:59:59+01:00") == [fact["id"]]  # 23:59:59Z
    assert await ids(cclient, after="2026-01-01T01:00:00+01:00") == []


@pytest.mark.parametrize("scope", ["nope", "Local", ""])
async def test_bad_scope_filter_is_400(client: httpx.AsyncClient, scope: str) -> None:
    response = await client.get("/v1/facts", params={"scope": scope})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "scope must be one of {'local', 'team', 'company', 'public'}"
    }


async def test_total_counts_every_match_not_the_page(client: httpx.AsyncClient) -> None:
    for i in range(7):
        await post(client, entity=f"user:{i}")
    response = await client.get("/v1/facts", params={"limit": 2})
    assert response.json()["total"] == 7
    assert response.headers["X-Total-Count"] == "7"
    assert len(response.json()["facts"]) == 2
    filtered = await client.get("/v1/facts", params={"limit": 2, "entity": "user:3"})
    assert filtered.json()["total"] == 1
    assert filtered.json()["cursor"] is None


async def test_as_of_is_not_available(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/facts", params={"as_of": "2026-01-01T00:00:00Z"})
    assert response.status_code == 501
    assert response.json()["detail"]["code"] == "time_travel_plugin_not_loaded"


async def test_tombstone_notices_is_an_empty_list(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/facts")).json()["tombstone_notices"] == []


def _plus(harness: NodeHarness, seconds: int) -> str:
    from datetime import timedelta

    assert harness.clock is not None
    return format_ts(harness.clock.now() + timedelta(seconds=seconds))


@pytest.mark.parametrize("ttl", [1e300, 2**62])
async def test_ttl_beyond_the_calendar_means_no_expiry(
    clocked: NodeHarness, cclient: httpx.AsyncClient, ttl: float
) -> None:
    set_ttl = await cclient.post(
        "/v1/facts", json=fact_body(relation="stigmem:ttl", value={"type": "number", "v": ttl})
    )
    assert set_ttl.status_code in (201, 400), set_ttl.text
    response = await cclient.post("/v1/facts", json=fact_body())
    assert response.status_code == 201, response.text
    if set_ttl.status_code == 400:
        assert set_ttl.json()["detail"]["code"] == "invalid_ttl"
    else:
        assert response.json()["valid_until"] is None
    assert await ids(cclient, relation="pref:color") == [response.json()["id"]]


async def test_offset_expiry_is_compared_as_an_instant(
    clocked: NodeHarness, cclient: httpx.AsyncClient
) -> None:
    assert clocked.clock is not None  # frozen at 2026-01-01T00:00:00Z
    fact = await post(cclient, valid_until="2026-01-01T01:00:30+01:00")  # 00:00:30Z
    assert await ids(cclient) == [fact["id"]]
    clocked.clock.advance(31)
    assert await ids(cclient) == []


async def test_expired_preferred_fact_lets_the_rival_through(
    clocked: NodeHarness, cclient: httpx.AsyncClient
) -> None:
    assert clocked.clock is not None
    strong = await post(cclient, confidence=0.9, valid_until=_plus(clocked, 60))
    weak = await post(cclient, confidence=0.5, value={"type": "string", "v": "red"})
    visible = await ids(cclient, entity="user:alice")
    assert visible == [strong["id"]]
    clocked.clock.advance(61)
    assert await ids(cclient, entity="user:alice") == [weak["id"]]
    record = (await cclient.get(f"/v1/facts/{weak['id']}")).json()
    assert record["contradicted"] is False  # its only rival expired
