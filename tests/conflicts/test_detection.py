"""Contradictions (CONTRACT §3): detection, meta-facts, `contradicted`, query-time resolution."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests import pg
from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows, raw_rows

BLUE = {"type": "string", "v": "blue"}
RED = {"type": "string", "v": "red"}
GREEN = {"type": "string", "v": "green"}


async def post(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/facts", json=fact_body(**overrides))
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


async def get(client: httpx.AsyncClient, fact_id: str) -> dict[str, Any]:
    record: dict[str, Any] = (await client.get(f"/v1/facts/{fact_id}")).json()
    return record


async def query(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    params.setdefault("entity", "user:alice")
    params.setdefault("relation", "pref:color")
    response = await client.get("/v1/facts", params=params)
    assert response.status_code == 200
    facts: list[dict[str, Any]] = response.json()["facts"]
    assert response.json()["total"] == len(facts)
    return facts


async def test_identical_values_do_not_conflict(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    a = await post(client, value=BLUE)
    b = await post(client, value=BLUE, source="agent:other", confidence=0.7)
    assert a["id"] != b["id"]
    assert b["contradicted"] is False
    assert (await get(client, a["id"]))["contradicted"] is False
    assert count_rows(harness, "conflicts") == 0
    assert {f["id"] for f in await query(client)} == {a["id"], b["id"]}


async def test_different_values_conflict(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    blue = await post(client, value=BLUE, scope="team")
    red = await post(client, value=RED, scope="team")
    assert blue["contradicted"] is False  # nothing contradicted it when it was written
    assert red["contradicted"] is True
    assert (await get(client, blue["id"]))["contradicted"] is True
    assert (await get(client, red["id"]))["contradicted"] is True
    rows = raw_rows(harness, "SELECT id, fact_a_id, fact_b_id, status FROM conflicts")
    assert len(rows) == 1
    conflict_id, fact_a, fact_b, status = rows[0]
    assert conflict_id.startswith("stigmem:conflict:")
    uuid.UUID(conflict_id.removeprefix("stigmem:conflict:"))
    assert (fact_a, fact_b, status) == (red["id"], blue["id"], "unresolved")
    meta = await client.get("/v1/facts", params={"entity": conflict_id})
    by_relation = {f["relation"]: f for f in meta.json()["facts"]}
    assert set(by_relation) == {"stigmem:conflict:between", "stigmem:conflict:status"}
    between, state = by_relation["stigmem:conflict:between"], by_relation["stigmem:conflict:status"]
    assert between["value"] == {
        "type": "text",
        "v": f"{red['id']} {blue['id']}",
        "interpret_as": "content",
    }
    assert state["value"]["v"] == "unresolved"
    assert state["value"]["type"] == "string"
    for fact in (between, state):
        assert fact["source"] == "system:stigmem"
        assert fact["scope"] == "team"
        assert fact["contradicted"] is False


async def test_numbers_of_different_type_conflict(client: httpx.AsyncClient) -> None:
    await post(client, value={"type": "number", "v": 1})
    one_float = await post(client, value={"type": "number", "v": 1.0})
    assert one_float["contradicted"] is True  # "1" and "1.0" are different stored values
    as_string = await post(client, relation="pref:n", value={"type": "string", "v": "1"})
    as_number = await post(client, relation="pref:n", value={"type": "number", "v": 1})
    assert as_string["contradicted"] is False
    assert as_number["contradicted"] is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"entity": "stigmem:node:x"},
        {"relation": "stigmem:note"},
        {"entity": "stigmem:conflict:abc", "relation": "stigmem:conflict:status"},
    ],
)
async def test_reserved_names_never_conflict(
    harness: NodeHarness, client: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    await post(client, value=BLUE, **overrides)
    second = await post(client, value=RED, **overrides)
    assert second["contradicted"] is False
    assert count_rows(harness, "conflicts") == 0


async def test_formal_stigmem_uri_is_an_ordinary_entity(client: httpx.AsyncClient) -> None:
    await post(client, entity="stigmem://example.com/user/bob", value=BLUE)
    assert (await post(client, entity="stigmem://example.com/user/bob", value=RED))["contradicted"]


async def test_other_scope_or_relation_or_entity_does_not_conflict(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    await post(client, value=BLUE, scope="company")
    for overrides in ({"scope": "public"}, {"relation": "pref:size"}, {"entity": "user:bob"}):
        assert (await post(client, value=RED, **overrides))["contradicted"] is False
    assert count_rows(harness, "conflicts") == 0


async def test_retractions_and_expired_facts_do_not_conflict(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    await post(client, value=BLUE, valid_until="2000-01-01T00:00:00Z")
    red = await post(client, value=RED)
    assert red["contradicted"] is False
    retraction = await post(client, value=GREEN, confidence=0.0)
    assert retraction["contradicted"] is False
    assert (await get(client, red["id"]))["contradicted"] is False
    assert count_rows(harness, "conflicts") == 0


async def test_retracting_the_rival_ends_the_contradiction(client: httpx.AsyncClient) -> None:
    blue = await post(client, value=BLUE)
    red = await post(client, value=RED)
    assert red["contradicted"] is True
    await post(client, value=BLUE, confidence=0.0)
    assert (await get(client, red["id"]))["contradicted"] is False
    assert (await get(client, blue["id"]))["contradicted"] is False  # no longer live
    assert [f["id"] for f in await query(client, min_confidence=0.5)] == [red["id"]]


async def test_three_values_make_a_conflict_per_rival_value(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    await post(client, value=BLUE)
    await post(client, value=BLUE, source="agent:two")
    await post(client, value=RED)
    assert count_rows(harness, "conflicts") == 1  # one per distinct rival value
    await post(client, value=GREEN)
    assert count_rows(harness, "conflicts") == 3


async def test_query_returns_the_preferred_fact_marked(client: httpx.AsyncClient) -> None:
    strong = await post(client, value=BLUE, confidence=0.9)
    weak = await post(client, value=RED, confidence=0.8)
    default = await query(client)
    assert [f["id"] for f in default] == [strong["id"]]
    assert default[0]["contradicted"] is True
    everything = await query(client, include_contradicted="true")
    assert {f["id"] for f in everything} == {strong["id"], weak["id"]}
    assert all(f["contradicted"] for f in everything)


async def test_equal_confidence_prefers_the_higher_hlc(client: httpx.AsyncClient) -> None:
    older = await post(client, value=BLUE)
    newer = await post(client, value=RED)
    assert newer["hlc"] > older["hlc"]
    assert [f["id"] for f in await query(client)] == [newer["id"]]
    # The same value from another source shares the preferred fact's fate.
    again = await post(client, value=BLUE, source="agent:late")
    assert [f["id"] for f in await query(client)] == [again["id"]]


async def test_other_values_on_the_triple_stay_visible(client: httpx.AsyncClient) -> None:
    blue = await post(client, value=BLUE)
    blue2 = await post(client, value=BLUE, source="agent:two")
    assert {f["id"] for f in await query(client)} == {blue["id"], blue2["id"]}
    red = await post(client, value=RED, confidence=0.5)
    visible = await query(client)
    assert {f["id"] for f in visible} == {blue["id"], blue2["id"]}
    assert all(f["contradicted"] for f in visible)
    assert red["id"] in {f["id"] for f in await query(client, include_contradicted="true")}


async def test_full_ties_return_every_tied_fact(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    template = await post(client, entity="user:seed", value=BLUE)
    # Two facts with the same confidence and the same HLC cannot come from one node's API;
    # they can arrive from two peers. Insert them as a peer ingest would (INSERT only).
    with pg.RawConnection(harness.node.settings) as conn:
        for value in ("blue", "red"):
            conn.execute(
                "INSERT INTO facts (id, entity, relation, value_type, value_v, source, timestamp,"
                " hlc, confidence, scope, cid) VALUES (?, 'user:tie', 'pref:color', 'string', ?,"
                " 'agent:peer', ?, '1796312270906.000', 0.5, 'company', NULL)",
                (str(uuid.uuid4()), value, template["timestamp"]),
            )
    tied = await query(client, entity="user:tie")
    assert sorted(f["value"]["v"] for f in tied) == ["blue", "red"]
    assert all(f["contradicted"] for f in tied)


async def test_contradicted_is_the_same_on_every_read_path(client: httpx.AsyncClient) -> None:
    blue = await post(client, value=BLUE, confidence=0.9)
    red = await post(client, value=RED, confidence=0.4)
    by_query = {f["id"]: f["contradicted"] for f in await query(client, include_contradicted=True)}
    for record in (blue, red):
        assert (await get(client, record["id"]))["contradicted"] is True
        assert (await client.get(f"/v1/facts/{record['cid']}")).json()["contradicted"] is True
        assert by_query[record["id"]] is True
    assert red["contradicted"] is True
    # An identical re-assert returns the stored fact with its current state.
    assert (await post(client, value=BLUE, confidence=0.9))["contradicted"] is True
