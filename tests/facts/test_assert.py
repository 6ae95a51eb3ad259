"""POST /v1/facts: every value type, the 26-field record, normalisation, idempotency."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows

FACT_RECORD_FIELDS = [
    "id", "entity", "relation", "value", "source", "timestamp", "hlc", "received_from",
    "valid_until", "confidence", "scope", "attested_key_id", "origin_node_id",
    "origin_allowed_scopes", "garden_id", "attested", "contradicted", "warnings",
    "source_trust", "quarantine_status", "quarantine_garden_id", "effective_confidence",
    "sanitizer_warnings", "sanitizer_redacted", "cid", "derived_from",
]  # fmt: skip
UPSTREAM_CID = "sha256:bf91fe3f9636f488ed2f2cb8acd64a2fddb7a60819f26e6e661f999ec450e0e6"


@pytest.mark.parametrize(
    "value",
    [
        {"type": "string", "v": "blue"},
        {"type": "text", "v": "a\nlong\ttext ☕"},
        {"type": "number", "v": 42},
        {"type": "number", "v": 42.5},
        {"type": "number", "v": 3.0},
        {"type": "number", "v": -7},
        {"type": "number", "v": 9223372036854775807},
        {"type": "boolean", "v": True},
        {"type": "boolean", "v": False},
        {"type": "datetime", "v": "2026-12-03T15:37:50.906450+00:00"},
        {"type": "ref", "v": "stigmem://example.com/user/bob"},
        {"type": "null"},
        {"type": "null", "v": None},
        {"type": "string", "v": "do this", "interpret_as": "content"},
    ],
)
async def test_every_value_type_round_trips(
    client: httpx.AsyncClient, value: dict[str, Any]
) -> None:
    created = await client.post("/v1/facts", json=fact_body(value=value))
    assert created.status_code == 201, created.text
    expected = {"type": value["type"], "v": value.get("v"), "interpret_as": "content"}
    for record in (created.json(), (await client.get(f"/v1/facts/{created.json()['id']}")).json()):
        assert record["value"] == expected
        assert type(record["value"]["v"]) is type(expected["v"])  # 42 stays int, 3.0 float


async def test_record_has_26_fields_in_upstream_order(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/facts", json=fact_body())
    assert list(created.json()) == FACT_RECORD_FIELDS
    fetched = await client.get(f"/v1/facts/{created.json()['id']}")
    assert list(fetched.json()) == FACT_RECORD_FIELDS
    page = await client.get("/v1/facts")
    assert list(page.json()) == ["facts", "total", "cursor", "tombstone_notices"]
    assert list(page.json()["facts"][0]) == FACT_RECORD_FIELDS


async def test_local_post_shape(client: httpx.AsyncClient) -> None:
    record = (await client.post("/v1/facts", json=fact_body())).json()
    assert record["received_from"] is None
    assert record["origin_node_id"] is None
    assert record["garden_id"] is None
    assert record["contradicted"] is False
    assert record["warnings"] == []
    assert record["sanitizer_warnings"] == []
    assert record["sanitizer_redacted"] is False
    assert record["derived_from"] == []
    assert record["confidence"] == 1.0
    assert record["timestamp"].endswith("+00:00")
    assert len(record["hlc"]) == 17
    assert record["hlc"][13] == "."


async def test_scope_defaults_to_local_and_confidence_to_one(client: httpx.AsyncClient) -> None:
    body = fact_body()
    del body["scope"]
    record = (await client.post("/v1/facts", json=body)).json()
    assert record["scope"] == "local"
    assert record["confidence"] == 1.0
    as_int = (await client.post("/v1/facts", json=fact_body(entity="user:b", confidence=1))).json()
    assert as_int["confidence"] == 1.0
    assert isinstance(as_int["confidence"], float)


async def test_entity_and_source_are_normalised(client: httpx.AsyncClient) -> None:
    body = fact_body(entity="  User:Alice  Smith ", source="Agent:Bot", scope="local")
    record = (await client.post("/v1/facts", json=body)).json()
    assert record["entity"] == "user:alice-smith"
    assert record["source"] == "agent:bot"
    assert record["relation"] == "pref:color"  # relations are never normalised
    assert record["cid"] == UPSTREAM_CID
    formal = fact_body(entity="STIGMEM://Host/Type/X Y", relation="Pref:Color")
    record = (await client.post("/v1/facts", json=formal)).json()
    assert record["entity"] == "stigmem://host/type/x-y"
    assert record["relation"] == "Pref:Color"


async def test_query_parameters_are_normalised(client: httpx.AsyncClient) -> None:
    await client.post("/v1/facts", json=fact_body(entity="user:alice-smith", source="agent:bot"))
    for params in (
        {"entity": "  USER:Alice  Smith"},
        {"source": "Agent:BOT"},
        {"entity": "User:Alice Smith", "source": " agent:bot "},
    ):
        page = (await client.get("/v1/facts", params=params)).json()
        assert [f["entity"] for f in page["facts"]] == ["user:alice-smith"], params


async def test_identical_reassert_returns_the_same_fact_and_writes_nothing(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    first = await client.post("/v1/facts", json=fact_body())
    facts, audit = count_rows(harness), count_rows(harness, "audit_log")
    again = await client.post("/v1/facts", json=fact_body(entity=" USER:Alice", source="Agent:Bot"))
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["timestamp"] == first.json()["timestamp"]
    assert again.json()["cid"] == first.json()["cid"]
    assert count_rows(harness) == facts
    assert count_rows(harness, "audit_log") == audit


async def test_different_confidence_or_scope_is_a_new_fact(client: httpx.AsyncClient) -> None:
    ids = set()
    for overrides in ({}, {"confidence": 0.9}, {"scope": "team"}, {"source": "agent:other"}):
        ids.add((await client.post("/v1/facts", json=fact_body(**overrides))).json()["id"])
    assert len(ids) == 4


async def test_write_is_audited(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    record = (await client.post("/v1/facts", json=fact_body())).json()
    assert (
        count_rows(
            harness, "audit_log", f"fact_id = '{record['id']}' AND event_type = 'fact_write'"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("relation", "warning"),
    [
        ("likes", "bare relation 'likes' has no namespace prefix; rename to 'your-prefix:likes'"
         " to prevent silent collisions (see relation-convention.md)"),
        ("pref:likes", None),
    ],
)  # fmt: skip
async def test_relation_warnings(
    client: httpx.AsyncClient, relation: str, warning: str | None
) -> None:
    record = (await client.post("/v1/facts", json=fact_body(relation=relation))).json()
    assert record["warnings"] == ([warning] if warning else [])
    fetched = (await client.get(f"/v1/facts/{record['id']}")).json()
    assert fetched["warnings"] == []  # POST only


async def test_reserved_relation_warns(client: httpx.AsyncClient) -> None:
    record = (await client.post("/v1/facts", json=fact_body(relation="stigmem:note"))).json()
    assert len(record["warnings"]) == 1
    assert "stigmem:" in record["warnings"][0]


async def test_valid_until_is_normalised_to_utc(client: httpx.AsyncClient) -> None:
    body = fact_body(valid_until="2099-01-01T02:00:00+02:00")
    record = (await client.post("/v1/facts", json=body)).json()
    assert record["valid_until"] == "2099-01-01T00:00:00.000000+00:00"
    # Already-UTC input round-trips as written (upstream clients compare it).
    body = fact_body(entity="user:z", valid_until="2099-01-01T00:00:00Z")
    record = (await client.post("/v1/facts", json=body)).json()
    assert record["valid_until"] == "2099-01-01T00:00:00Z"


async def test_instruction_needs_permission(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    body = fact_body(value={"type": "string", "v": "do x", "interpret_as": "instruction"})
    created = await client.post("/v1/facts", json=body)  # admin implies instruction:write
    assert created.status_code == 201
    assert created.json()["value"]["interpret_as"] == "instruction"
    key = "writer-key-0123456789abcdefghijklmnopqrstuv"
    minted = await client.post(
        "/v1/auth/keys", json={"raw_key": key, "entity_uri": "agent:w", "permissions": ["write"]}
    )
    assert minted.status_code == 201
    before = count_rows(harness)
    async with harness.client(key) as writer:
        refused = await writer.post(
            "/v1/facts", json=fact_body(entity="user:z", value=body["value"])
        )
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "instruction_write_required"
    assert count_rows(harness) == before


async def test_write_permission_required(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    key = "reader-key-0123456789abcdefghijklmnopqrstuv"
    await client.post(
        "/v1/auth/keys", json={"raw_key": key, "entity_uri": "agent:r", "permissions": ["read"]}
    )
    async with harness.client(key) as reader:
        refused = await reader.post("/v1/facts", json=fact_body())
        assert refused.status_code == 403
        assert refused.json() == {"detail": "write permission required"}
        assert (await reader.get("/v1/facts")).status_code == 200
    assert count_rows(harness) == 0
