"""POST /v1/facts/batch (Spec-14): per-item results, atomic all-or-nothing, idempotency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import NodeHarness, fact_body, start_node
from tests.facts.support import count_rows

BAD_ITEM = fact_body(entity="user:bad", value={"type": "number", "v": "seven"})


def good(i: int, **overrides: Any) -> dict[str, Any]:
    return fact_body(**({"entity": f"user:{i}"} | overrides))


async def test_non_atomic_partial_success(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    items = [good(0), BAD_ITEM, good(2, entity="  USER:Two "), fact_body(entity="   "),
             good(4, value={"type": "text", "v": "x" * 70_000})]  # fmt: skip
    response = await client.post("/v1/facts/batch", json={"facts": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert body["rejected"] == 3
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, 201), (1, 422), (2, 201), (3, 400), (4, 413)]
    assert body["results"][0]["fact"]["entity"] == "user:0"
    assert body["results"][2]["fact"]["entity"] == "user:two"
    assert body["results"][1]["detail"][0]["loc"][:2] == ["body", "value"]
    assert body["results"][3]["detail"] == "invalid_entity_uri: entity URI must not be empty"
    assert body["results"][4]["detail"]["code"] == "value_too_large"
    assert count_rows(harness) == 2
    stored = {f["id"] for f in (await client.get("/v1/facts")).json()["facts"]}
    assert stored == {body["results"][0]["fact"]["id"], body["results"][2]["fact"]["id"]}


async def test_atomic_success(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/facts/batch", json={"facts": [good(i) for i in range(5)], "atomic": True}
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 5
    assert [r["status"] for r in response.json()["results"]] == [201] * 5
    assert count_rows(harness) == 5


async def test_atomic_failure_writes_nothing(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    await client.post("/v1/facts", json=good(99))
    facts, audit = count_rows(harness), count_rows(harness, "audit_log")
    items = [good(0), good(1), BAD_ITEM, good(3, value={"type": "string", "v": "red"})]
    response = await client.post("/v1/facts/batch", json={"facts": items, "atomic": True})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"]["code"] == "batch_rejected"
    assert body["accepted"] == 0
    assert body["rejected"] == 4
    assert [r["status"] for r in body["results"]] == [424, 424, 422, 424]
    assert all("fact" not in r for r in body["results"])
    assert count_rows(harness) == facts
    assert count_rows(harness, "audit_log") == audit
    assert count_rows(harness, "conflicts") == 0


async def test_items_follow_single_assert_rules(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    items = [good(0), good(0), good(0, value={"type": "string", "v": "red"})]
    body = (await client.post("/v1/facts/batch", json={"facts": items})).json()
    first, same, rival = (r["fact"] for r in body["results"])
    assert same["id"] == first["id"]  # identical content inside one batch: one fact
    assert rival["contradicted"] is True
    assert count_rows(harness, "conflicts") == 1
    assert count_rows(harness, "facts", "entity = 'user:0'") == 2


async def test_idempotency_key_replays_and_rejects_another_body(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    request = {"facts": [good(0), BAD_ITEM], "idempotency_key": "batch-1"}
    first = await client.post("/v1/facts/batch", json=request)
    assert first.status_code == 200
    facts = count_rows(harness)
    replay = await client.post("/v1/facts/batch", json=request)
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert count_rows(harness) == facts
    other = await client.post(
        "/v1/facts/batch", json={"facts": [good(7)], "idempotency_key": "batch-1"}
    )
    assert other.status_code == 409
    assert other.json()["detail"]["code"] == "idempotency_key_reused"
    assert count_rows(harness) == facts
    fresh = await client.post(
        "/v1/facts/batch", json={"facts": [good(7)], "idempotency_key": "b-2"}
    )
    assert fresh.json()["accepted"] == 1


async def test_failed_atomic_batch_does_not_burn_its_key(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    failing = {"facts": [good(0), BAD_ITEM], "atomic": True, "idempotency_key": "k"}
    assert (await client.post("/v1/facts/batch", json=failing)).status_code == 422
    assert count_rows(harness, "batch_requests") == 0
    ok = {"facts": [good(0)], "atomic": True, "idempotency_key": "k"}
    assert (await client.post("/v1/facts/batch", json=ok)).status_code == 200
    assert count_rows(harness) == 1


async def test_batch_size_limit(tmp_path: Path) -> None:
    async for node in start_node(tmp_path, max_batch_facts=3):
        async with node.client() as client:
            response = await client.post(
                "/v1/facts/batch", json={"facts": [good(i) for i in range(4)]}
            )
            assert response.status_code == 400
            assert response.json()["detail"]["code"] == "batch_too_large"
            assert count_rows(node) == 0
            response = await client.post(
                "/v1/facts/batch", json={"facts": [good(i) for i in range(3)]}
            )
            assert response.json()["accepted"] == 3


async def test_bad_batch_envelopes(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    bodies: list[dict[str, Any]] = [
        {"facts": []},
        {},
        {"facts": "x"},
        {"facts": [1]},
        {"facts": [good(0)], "atomic": "maybe"},
        {"facts": [good(0)], "idempotency_key": ""},
    ]
    for body in bodies:
        response = await client.post("/v1/facts/batch", json=body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["detail"], list)
    assert count_rows(harness) == 0


async def test_batch_needs_write(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    key = "reader-key-0123456789abcdefghijklmnopqrstuv"
    await client.post(
        "/v1/auth/keys", json={"raw_key": key, "entity_uri": "agent:r", "permissions": ["read"]}
    )
    async with harness.client(key) as reader:
        response = await reader.post("/v1/facts/batch", json={"facts": [good(0)]})
    assert response.status_code == 403
    assert response.json() == {"detail": "write permission required"}
    assert count_rows(harness) == 0
