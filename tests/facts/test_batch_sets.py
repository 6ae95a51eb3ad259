"""Batches of facts that cannot affect one another are written a set at a time
(``facts.bulk``); every single-assert rule must still hold, item by item."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows

VOLATILE = {"id", "timestamp", "hlc", "cid", "entity"}


def _stable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in VOLATILE}


async def _batch(client: httpx.AsyncClient, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await client.post("/v1/facts/batch", json={"facts": facts})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert all(r["status"] == 201 for r in results), results
    return results


async def test_set_write_keeps_idempotency_ttl_and_contradictions(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    stored = (await client.post("/v1/facts", json=fact_body(entity="user:dup"))).json()
    rival = (
        await client.post(
            "/v1/facts", json=fact_body(entity="user:rival", value={"type": "string", "v": "red"})
        )
    ).json()
    ttl = {"type": "number", "v": 3600}
    await client.post(
        "/v1/facts", json=fact_body(entity="user:ttl", relation="stigmem:ttl", value=ttl)
    )
    before = count_rows(harness)
    results = await _batch(
        client,
        [
            fact_body(entity="user:dup"),  # identical content: the stored fact, not a new one
            fact_body(entity="user:rival"),  # blue against the stored red: a contradiction
            fact_body(entity="user:ttl"),  # its entity has a TTL: an expiry
            fact_body(entity="user:new"),
        ],
    )
    dup, contradicting, expiring, new = (r["fact"] for r in results)
    assert dup["id"] == stored["id"]
    assert contradicting["contradicted"] is True
    assert expiring["valid_until"] is not None
    assert new["valid_until"] is None
    assert new["contradicted"] is False
    # Three new facts, plus the conflict's two meta-facts.
    assert count_rows(harness) == before + 3 + 2
    conflicts = (await client.get("/v1/conflicts")).json()
    pairs = [{c["fact_a"]["id"], c["fact_b"]["id"]} for c in conflicts["conflicts"]]
    assert {contradicting["id"], rival["id"]} in pairs
    writes = count_rows(harness, "audit_log", "event_type = 'fact_write'")
    assert writes == 3 + 3  # the three single asserts, then the batch's three new facts


async def test_set_write_answers_as_single_asserts_do(client: httpx.AsyncClient) -> None:
    bodies = [
        fact_body(relation="pref:color", value={"type": "string", "v": "blue"}),
        fact_body(relation="profile:age", value={"type": "number", "v": 42}),
        fact_body(relation="profile:active", value={"type": "boolean", "v": True}),
        fact_body(relation="rel:knows", value={"type": "ref", "v": "user:bob"}, scope="team"),
        fact_body(relation="memory:note", value={"type": "text", "v": "a longer note"}),
        fact_body(relation="intent:deadline", valid_until="2999-01-01T00:00:00Z"),
    ]
    singles = []
    for n, body in enumerate(bodies):
        response = await client.post("/v1/facts", json={**body, "entity": f"user:single-{n}"})
        assert response.status_code == 201
        singles.append(response.json())
    batched = await _batch(
        client, [{**b, "entity": f"user:batch-{n}"} for n, b in enumerate(bodies)]
    )
    assert [_stable(r["fact"]) for r in batched] == [_stable(s) for s in singles]


async def test_facts_that_affect_each_other_are_written_in_order(
    client: httpx.AsyncClient,
) -> None:
    results = await _batch(
        client,
        [
            fact_body(entity="user:pair", value={"type": "string", "v": "blue"}),
            fact_body(entity="user:pair", value={"type": "string", "v": "green"}),
            fact_body(entity="user:pair", value={"type": "string", "v": "green"}),
        ],
    )
    first, second, third = (r["fact"] for r in results)
    assert first["contradicted"] is False  # nothing rivalled it when it was written
    assert second["contradicted"] is True
    assert third["id"] == second["id"]  # the same content again: idempotent within the batch


async def test_concurrent_single_asserts_keep_every_rule(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    """Single asserts that share a group commit are written together when independent."""

    async def put(entity: str, colour: str) -> dict[str, Any]:
        body = fact_body(entity=entity, value={"type": "string", "v": colour})
        response = await client.post("/v1/facts", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    same = await asyncio.gather(*[put("user:same", "blue") for _ in range(8)])
    assert len({r["id"] for r in same}) == 1  # identical content: one fact, however raced
    independent = await asyncio.gather(*[put(f"user:ind-{n}", "blue") for n in range(16)])
    assert len({r["id"] for r in independent}) == 16
    rivals = await asyncio.gather(*[put("user:rivals", c) for c in ("red", "green", "blue")])
    assert sum(r["contradicted"] for r in rivals) == 2  # every later one meets the earlier
    assert count_rows(harness, "conflicts") == 3  # red-green, blue-red, blue-green
    assert count_rows(harness, "audit_log", "event_type = 'fact_write'") == 1 + 16 + 3
