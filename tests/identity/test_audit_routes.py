"""``GET /v1/audit``, ``/v1/audit/facts/{id}``, ``/v1/audit/export`` and ``/v1/admin/audit``."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stigmem_node.audit.store import FACT_EVENT_FIELDS
from tests.conftest import NodeHarness, fact_body
from tests.identity.support import mint_key, public_b64, sign_fact

ADMIN_FIELDS = [
    "seq", "id", "event_type", "entity_uri", "oidc_sub", "fact_id", "source", "attested_key_id",
    "ts", "tenant_id", "detail",
]  # fmt: skip


async def write_facts(client: httpx.AsyncClient, n: int, **overrides: Any) -> list[str]:
    ids = []
    for i in range(n):
        body = fact_body(entity=f"user:{i}", **overrides)
        response = await client.post("/v1/facts", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def test_fact_events_shape(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    [fact_id] = await write_facts(client, 1)
    body = (await client.get("/v1/audit")).json()
    assert list(body) == ["entries", "total", "cursor"]
    assert (body["total"], body["cursor"]) == (1, None)  # api_key_created is not a fact event
    [entry] = body["entries"]
    assert list(entry) == list(FACT_EVENT_FIELDS)
    assert entry["fact_id"] == fact_id
    assert entry["event_type"] == "fact_write"
    assert (entry["entity_uri"], entry["source"]) == ("agent:admin", "agent:bot")
    assert (entry["fact_entity"], entry["fact_relation"]) == ("user:0", "pref:color")
    assert (entry["fact_value_type"], entry["fact_value_v"], entry["fact_scope"]) == (
        "string",
        "blue",
        "company",
    )
    assert entry["attested_key_id"] is None


async def test_pages_never_skip_or_repeat(client: httpx.AsyncClient) -> None:
    ids = await write_facts(client, 5)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/audit", params=params)).json()
        assert page["total"] == 5 + pages  # a write between pages shows in total only
        seen += [e["fact_id"] for e in page["entries"]]
        cursor = page["cursor"]
        if cursor is None:
            break
        assert "|" in cursor
        pages += 1
        await write_facts(client, 1, relation=f"pref:new{pages}")  # newer: above the cursor
    assert seen == list(reversed(ids))


async def test_filters(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    other = await mint_key(client, "agent:other")
    await write_facts(client, 2)
    async with harness.client(other) as other_client:
        [theirs] = await write_facts(other_client, 1, source="Agent:Elsewhere")
        key = Ed25519PrivateKey.generate()
        key_id = (
            await other_client.post(
                "/v1/auth/agent-keys", json={"public_key": public_b64(key), "description": "ci"}
            )
        ).json()["id"]
        body = fact_body(entity="user:signed")
        body["attestation"] = {"key_id": key_id, "signature": sign_fact(key, body, "blue")}
        signed = (await other_client.post("/v1/facts", json=body)).json()["id"]

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/audit", params=params)
        assert response.status_code == 200, response.text
        return [e["fact_id"] for e in response.json()["entries"]]

    assert len(await ids()) == 4
    assert set(await ids(entity_uri="agent:other")) == {theirs, signed}
    assert await ids(source="agent:elsewhere") == [theirs]
    assert await ids(source="AGENT:Elsewhere") == [theirs]  # normalised like the fact query
    assert await ids(fact_id=theirs) == [theirs]
    assert await ids(attested="true") == [signed]
    assert signed not in await ids(attested="false")
    assert await ids(oidc_sub="nobody") == []
    [entry] = (await client.get("/v1/audit", params={"attested": "true"})).json()["entries"]
    assert (entry["attested_key_id"], entry["attested_key_entity_uri"]) == (key_id, "agent:other")
    assert entry["attested_key_description"] == "ci"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"cursor": "garbage"}, 400),
        ({"limit": 0}, 422),
        ({"limit": 501}, 422),
        ({"attested": "maybe"}, 422),
    ],
)
async def test_bad_query(client: httpx.AsyncClient, params: dict[str, Any], status: int) -> None:
    response = await client.get("/v1/audit", params=params)
    assert response.status_code == status
    if status == 400:
        assert response.json()["detail"]["code"] == "invalid_cursor"


async def test_fact_trail(client: httpx.AsyncClient) -> None:
    [fact_id] = await write_facts(client, 1)
    trail = (await client.get(f"/v1/audit/facts/{fact_id}")).json()
    assert [e["event_type"] for e in trail] == ["fact_write"]
    missing = await client.get("/v1/audit/facts/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()) == (404, {"detail": "fact not found"})


async def test_readers_may_read_but_garden_facts_stay_hidden(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    created = await client.post(
        "/v1/gardens", json={"slug": "vault", "name": "Vault", "scope": "team"}
    )
    assert created.status_code == 201, created.text
    secret = fact_body(
        entity="project:x", value={"type": "string", "v": "the-secret"}, scope="team"
    )
    secret["garden_id"] = "stigmem://any/garden/vault"
    hidden = (await client.post("/v1/facts", json=secret)).json()["id"]
    [public] = await write_facts(client, 1)
    reader = await mint_key(client, "agent:reader", ["read"])
    async with harness.client(reader) as reader_client:
        page = (await reader_client.get("/v1/audit")).json()
        assert [e["fact_id"] for e in page["entries"]] == [public]
        assert page["total"] == 1
        trail = await reader_client.get(f"/v1/audit/facts/{hidden}")
        assert (trail.status_code, trail.json()) == (403, {"detail": "not a member of this garden"})
        export = (await reader_client.get("/v1/audit/export")).text
        assert "the-secret" not in export
        assert hidden not in export
    assert hidden in (await client.get("/v1/audit/export")).text  # members see it


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_export_csv(client: httpx.AsyncClient) -> None:
    await write_facts(client, 3)
    await client.post(
        "/v1/facts",
        json=fact_body(entity="user:x", value={"type": "string", "v": '=HYPERLINK("http://x")'}),
    )
    await client.post(
        "/v1/facts", json=fact_body(entity="user:n", value={"type": "number", "v": -5})
    )
    response = await client.get("/v1/audit/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    table = parse_csv(response.text)
    assert table[0] == list(FACT_EVENT_FIELDS)
    assert len(table) == 1 + 5
    values = [row[FACT_EVENT_FIELDS.index("fact_value_v")] for row in table[1:]]
    assert values[:2] == ["-5", '\'=HYPERLINK("http://x")']  # newest first; formula defused
    limited = parse_csv((await client.get("/v1/audit/export", params={"limit": 2})).text)
    assert len(limited) == 1 + 2
    assert (await client.get("/v1/audit/export", params={"limit": 50_001})).status_code == 422


async def test_export_streams_many_pages(client: httpx.AsyncClient) -> None:
    for batch in range(3):
        facts = [fact_body(entity=f"user:{batch}-{i}") for i in range(900)]
        response = await client.post("/v1/facts/batch", json={"facts": facts})
        assert response.json()["accepted"] == 900
    table = parse_csv((await client.get("/v1/audit/export", params={"limit": 2500})).text)
    assert len(table) == 1 + 2500
    assert len({row[0] for row in table[1:]}) == 2500  # distinct events, none repeated


async def test_admin_audit(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    reader = await mint_key(client, "agent:reader", ["read"])
    auditor = await mint_key(client, "agent:auditor", ["audit.read"])
    await write_facts(client, 2)
    async with harness.client(reader) as reader_client:
        denied = await reader_client.get("/v1/admin/audit")
    assert (denied.status_code, denied.json()) == (
        403,
        {"detail": "audit.read permission required"},
    )
    async with harness.client(auditor) as auditor_client:
        body = (await auditor_client.get("/v1/admin/audit")).json()
    assert list(body) == ["entries", "total", "next_cursor"]
    types = [e["event_type"] for e in body["entries"]]
    assert types == ["api_key_created"] * 3 + ["fact_write"] * 2  # oldest first, every event
    assert body["total"] == 5
    assert body["next_cursor"] is None
    first = body["entries"][0]
    assert list(first) == ADMIN_FIELDS
    assert isinstance(first["detail"], str)
    assert orjson.loads(first["detail"])["for"] == "agent:admin"
    assert first["source"] == ""  # never null on the wire (upstream's schema: a string)


async def test_admin_audit_filters_and_cursor(client: httpx.AsyncClient) -> None:
    await write_facts(client, 3)

    async def get(**params: Any) -> dict[str, Any]:
        response = await client.get("/v1/admin/audit", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    page = await get(limit=2)
    assert (len(page["entries"]), page["total"]) == (2, 4)
    rest = await get(limit=2, cursor=page["next_cursor"])
    assert [e["seq"] for e in rest["entries"]] == [page["next_cursor"] + 1, page["next_cursor"] + 2]
    assert rest["next_cursor"] is None
    assert (await get(event_type="fact_write"))["total"] == 3
    assert (await get(principal="agent:admin"))["total"] == 3
    assert (await get(principal="system:bootstrap"))["total"] == 1
    ts = page["entries"][1]["ts"]
    assert (await get(since=ts))["total"] == 3
    assert (await get(until=ts))["total"] == 2
    assert (await get(since="2999-01-01T00:00:00Z"))["total"] == 0
    bad = await client.get("/v1/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["detail"]["code"] == "invalid_timestamp"
    assert (await client.get("/v1/admin/audit", params={"cursor": -1})).status_code == 422
    assert (await client.get("/v1/admin/audit", params={"limit": 1001})).status_code == 422
