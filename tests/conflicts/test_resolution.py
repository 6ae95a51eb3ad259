"""GET /v1/conflicts and POST /v1/conflicts/{id}/resolve (wire reference §1.2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from stigmem_node.clock import parse_ts
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


async def make_conflict(
    client: httpx.AsyncClient, entity: str = "user:alice"
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    blue = await post(client, entity=entity, value=BLUE)
    red = await post(client, entity=entity, value=RED)
    page = (await client.get("/v1/conflicts", params={"status": "unresolved", "limit": 500})).json()
    ids = [c["conflict_id"] for c in page["conflicts"] if c["fact_a"]["entity"] == entity]
    assert len(ids) == 1
    return ids[0], blue, red


async def triple(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    params = {"entity": "user:alice", "relation": "pref:color"} | params
    facts: list[dict[str, Any]] = (await client.get("/v1/facts", params=params)).json()["facts"]
    return facts


async def test_list_shape(client: httpx.AsyncClient) -> None:
    conflict_id, blue, red = await make_conflict(client)
    body = (await client.get("/v1/conflicts")).json()
    assert list(body) == ["conflicts", "cursor", "has_more"]
    assert body["cursor"] is None
    assert body["has_more"] is False
    (item,) = body["conflicts"]
    assert list(item) == ["conflict_id", "fact_a", "fact_b", "status", "resolved_by", "detected_at"]
    assert item["conflict_id"] == conflict_id
    assert item["fact_a"]["id"] == red["id"]
    assert item["fact_b"]["id"] == blue["id"]
    assert item["status"] == "unresolved"
    assert item["resolved_by"] is None
    detected, written = parse_ts(item["detected_at"]), parse_ts(red["timestamp"])
    assert abs((detected - written).total_seconds()) < 5  # detected in the write's transaction


async def test_paging_and_status_filter(client: httpx.AsyncClient) -> None:
    made = [(await make_conflict(client, f"user:{i}"))[0] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/conflicts", params=params)).json()
        seen += [c["conflict_id"] for c in body["conflicts"]]
        pages += 1
        assert body["has_more"] is (body["cursor"] is not None)
        cursor = body["cursor"]
        if cursor is None:
            break
    assert seen == made
    assert pages == 3
    resolved = await client.post(f"/v1/conflicts/{made[1]}/resolve", json={"new_value": GREEN})
    assert resolved.status_code == 200
    only_resolved = (await client.get("/v1/conflicts", params={"status": "resolved"})).json()
    assert [c["conflict_id"] for c in only_resolved["conflicts"]] == [made[1]]
    assert only_resolved["conflicts"][0]["resolved_by"] == "agent:admin"
    unresolved = (await client.get("/v1/conflicts", params={"status": "unresolved"})).json()
    assert [c["conflict_id"] for c in unresolved["conflicts"]] == made[:1] + made[2:]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "open"}, 422),
        ({"limit": 0}, 422),
        ({"limit": 501}, 422),
        ({"cursor": "zzz"}, 400),
    ],
)
async def test_bad_list_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], status: int
) -> None:
    assert (await client.get("/v1/conflicts", params=params)).status_code == status


async def test_resolve_with_winning_fact(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    conflict_id, blue, red = await make_conflict(client)
    response = await client.post(
        f"/v1/conflicts/{conflict_id}/resolve", json={"winning_fact_id": blue["id"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["resolution_fact_id", "conflict_status"]
    assert body["conflict_status"] == "resolved"
    resolution = (await client.get(f"/v1/facts/{body['resolution_fact_id']}")).json()
    assert resolution["entity"] == f"stigmem:resolution:{conflict_id}"
    assert resolution["relation"] == "pref:color"
    assert resolution["value"]["v"] == "blue"
    assert resolution["source"] == "agent:admin"
    # The triple is settled: only the winner, no longer contradicted, on every path.
    visible = await triple(client)
    assert [f["id"] for f in visible] == [blue["id"]]
    assert visible[0]["contradicted"] is False
    assert (await client.get(f"/v1/facts/{blue['id']}")).json()["contradicted"] is False
    assert [f["id"] for f in await triple(client, include_contradicted=True)] == [blue["id"]]
    # Resolution is additive: the loser still exists by id.
    assert (await client.get(f"/v1/facts/{red['id']}")).status_code == 200
    resolves = (await client.get("/v1/facts", params={"entity": body["resolution_fact_id"]})).json()
    assert [(f["relation"], f["value"]["v"]) for f in resolves["facts"]] == [
        ("stigmem:resolves", conflict_id)
    ]
    status = (
        await client.get(
            "/v1/facts", params={"entity": conflict_id, "relation": "stigmem:conflict:status"}
        )
    ).json()
    assert {f["value"]["v"] for f in status["facts"]} == {"resolved", "unresolved"}
    row = raw_rows(
        harness,
        "SELECT status, resolution_fact_id, resolved_by FROM conflicts WHERE id = ?",
        (conflict_id,),
    )
    assert row == [("resolved", body["resolution_fact_id"], "agent:admin")]


async def test_resolve_with_new_value(client: httpx.AsyncClient) -> None:
    conflict_id, blue, red = await make_conflict(client)
    response = await client.post(f"/v1/conflicts/{conflict_id}/resolve", json={"new_value": GREEN})
    assert response.status_code == 200
    visible = await triple(client)
    assert [f["value"]["v"] for f in visible] == ["green"]
    assert visible[0]["contradicted"] is False
    assert visible[0]["id"] not in (blue["id"], red["id"])
    assert [f["value"]["v"] for f in await triple(client, include_contradicted=True)] == ["green"]
    # The new value must not open fresh conflicts with the values it settles.
    open_conflicts = (await client.get("/v1/conflicts", params={"status": "unresolved"})).json()
    assert open_conflicts["conflicts"] == []


async def test_resolving_twice_is_409(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    conflict_id, blue, _ = await make_conflict(client)
    body = {"winning_fact_id": blue["id"]}
    assert (await client.post(f"/v1/conflicts/{conflict_id}/resolve", json=body)).status_code == 200
    facts = count_rows(harness)
    again = await client.post(f"/v1/conflicts/{conflict_id}/resolve", json=body)
    assert again.status_code == 409
    assert again.json() == {"detail": "conflict already resolved"}
    assert count_rows(harness) == facts


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "provide winning_fact_id or new_value"),
        ({"resolution_note": "x"}, "provide winning_fact_id or new_value"),
        ({"winning_fact_id": "00000000-0000-4000-8000-000000000000"},
         "winning_fact_id must be one of the conflicting facts"),
    ],
)  # fmt: skip
async def test_resolve_422_texts(
    harness: NodeHarness, client: httpx.AsyncClient, body: dict[str, Any], detail: str
) -> None:
    conflict_id, _, _ = await make_conflict(client)
    facts = count_rows(harness)
    response = await client.post(f"/v1/conflicts/{conflict_id}/resolve", json=body)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}
    assert count_rows(harness) == facts
    assert raw_rows(harness, "SELECT status FROM conflicts") == [("unresolved",)]


@pytest.mark.parametrize("new_value", [{"type": "number", "v": "x"}, {"type": "bogus"}, "green"])
async def test_resolve_with_bad_new_value_is_422(
    harness: NodeHarness, client: httpx.AsyncClient, new_value: Any
) -> None:
    conflict_id, _, _ = await make_conflict(client)
    facts = count_rows(harness)
    response = await client.post(
        f"/v1/conflicts/{conflict_id}/resolve", json={"new_value": new_value}
    )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert count_rows(harness) == facts


@pytest.mark.parametrize(
    "conflict_id", ["stigmem:conflict:00000000-0000-4000-8000-000000000000", "nope"]
)
async def test_unknown_conflict_is_404(client: httpx.AsyncClient, conflict_id: str) -> None:
    response = await client.post(f"/v1/conflicts/{conflict_id}/resolve", json={"new_value": GREEN})
    assert response.status_code == 404
    assert response.json() == {"detail": "conflict not found"}


async def test_resolve_needs_write(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    conflict_id, blue, _ = await make_conflict(client)
    key = "reader-key-0123456789abcdefghijklmnopqrstuv"
    await client.post(
        "/v1/auth/keys", json={"raw_key": key, "entity_uri": "agent:r", "permissions": ["read"]}
    )
    async with harness.client(key) as reader:
        assert (await reader.get("/v1/conflicts")).status_code == 200
        response = await reader.post(
            f"/v1/conflicts/{conflict_id}/resolve", json={"winning_fact_id": blue["id"]}
        )
    assert response.status_code == 403
    assert response.json() == {"detail": "write permission required"}
    assert raw_rows(harness, "SELECT status FROM conflicts") == [("unresolved",)]


async def test_resolving_one_of_two_conflicts_leaves_the_other(client: httpx.AsyncClient) -> None:
    await post(client, value=BLUE)
    await post(client, value=RED)
    green = await post(client, value=GREEN)
    assert green["contradicted"] is True
    conflicts = (await client.get("/v1/conflicts")).json()["conflicts"]
    assert len(conflicts) == 3
    green_vs_blue = next(
        c for c in conflicts
        if {c["fact_a"]["value"]["v"], c["fact_b"]["value"]["v"]} == {"green", "blue"}
    )  # fmt: skip
    response = await client.post(
        f"/v1/conflicts/{green_vs_blue['conflict_id']}/resolve",
        json={"winning_fact_id": green["id"]},
    )
    assert response.status_code == 200
    # Red still contradicts green: the triple stays contradicted until that is settled too.
    assert (await client.get(f"/v1/facts/{green['id']}")).json()["contradicted"] is True
    values = {f["value"]["v"] for f in await triple(client, include_contradicted=True)}
    assert values == {"green", "red"}
