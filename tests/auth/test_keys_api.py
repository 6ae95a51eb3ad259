"""API key routes (wire reference §1.4): create, list, expiring-soon, revoke, /v1/me."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.clock import FakeClock, format_ts
from tests.conftest import NodeHarness, start_node
from tests.facts.support import count_rows

RAW = "caller-chosen-key-0123456789abcdefghijk"
KEY_FIELDS = [
    "id",
    "entity_uri",
    "permissions",
    "description",
    "created_at",
    "expires_at",
    "tenant_id",
]


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for h in start_node(tmp_path, clock=FakeClock()):
        yield h


async def mint(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    payload = {"raw_key": RAW, "entity_uri": "agent:x", "permissions": ["write", "read"]} | body
    return await client.post(
        "/v1/auth/keys", json={k: v for k, v in payload.items() if v is not None}
    )


async def test_create_with_caller_chosen_key(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    response = await mint(client, description="ci key")
    assert response.status_code == 201
    body = response.json()
    assert list(body) == KEY_FIELDS
    assert body["permissions"] == ["read", "write"]  # sorted
    assert body["entity_uri"] == "agent:x"
    assert body["description"] == "ci key"
    assert body["tenant_id"] == "default"
    assert "raw_key" not in body
    async with harness.client(RAW) as c:
        me = (await c.get("/v1/me")).json()
    assert me["entity_uri"] == "agent:x"
    assert me["permissions"] == ["read", "write"]
    # Only hashes are stored.
    with_raw = count_rows(harness, "api_keys", f"key_hash LIKE '%{RAW}%' OR key_digest = '{RAW}'")
    assert with_raw == 0
    assert count_rows(harness, "api_keys", "key_hash LIKE '$argon2id$%'") == 2
    assert count_rows(harness, "audit_log", "event_type = 'api_key_created'") == 2


async def test_default_expiry_is_the_max_age(clocked: NodeHarness) -> None:
    assert clocked.clock is not None
    async with clocked.client() as client:
        body = (await mint(client)).json()
    assert body["created_at"] == format_ts(clocked.clock.now())
    assert body["expires_at"] == format_ts(clocked.clock.now() + timedelta(days=90))


async def test_generated_key_when_raw_key_is_omitted(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    response = await mint(client, raw_key=None)
    assert response.status_code == 201
    raw = response.json()["raw_key"]
    assert len(raw) >= 32
    async with harness.client(raw) as c:
        assert (await c.get("/v1/me")).json()["entity_uri"] == "agent:x"
    again = await mint(client, raw_key=None)
    assert again.json()["raw_key"] != raw


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"raw_key": "x" * 31}, 422, None),
        ({"raw_key": "x" * 513}, 422, None),
        ({"entity_uri": ""}, 422, None),
        ({"permissions": "read"}, 422, None),
        ({"expires_at": "next week"}, 422, None),
        ({"permissions": ["read", "superuser"]}, 400, "unknown permission(s): superuser"),
        ({"permissions": ["admin:federation"]}, 400, "unknown permission(s): admin:federation"),
        ({"permissions": []}, 400, "permissions must not be empty"),
        ({"expires_at": "2999-01-01T00:00:00Z"}, 400,
         "expires_at is beyond the maximum key age of 90 days"),
    ],
)  # fmt: skip
async def test_bad_create_requests(
    harness: NodeHarness,
    client: httpx.AsyncClient,
    body: dict[str, Any],
    status: int,
    detail: str | None,
) -> None:
    response = await mint(client, **body)
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.json() == {"detail": detail}
    assert count_rows(harness, "api_keys") == 1


@pytest.mark.parametrize("field", ["raw_key", "entity_uri", "description"])
async def test_lone_surrogates_in_key_requests(
    harness: NodeHarness, client: httpx.AsyncClient, field: str
) -> None:
    body = {"raw_key": RAW, "entity_uri": "agent:x", "description": "d"}
    body[field] = "PLACEHOLDER"
    text = json.dumps(body).replace("PLACEHOLDER", "\\ud800" * 32)
    response = await client.post(
        "/v1/auth/keys", content=text, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert count_rows(harness, "api_keys") == 1


async def test_explicit_expiry_is_normalised(clocked: NodeHarness) -> None:
    assert clocked.clock is not None
    expiry = clocked.clock.now() + timedelta(days=10)
    async with clocked.client() as client:
        body = (await mint(client, expires_at=expiry.isoformat().replace("+00:00", "Z"))).json()
    assert body["expires_at"] == format_ts(expiry)


async def test_duplicate_key_is_409(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    assert (await mint(client)).status_code == 201
    response = await mint(client, entity_uri="agent:other")
    assert response.status_code == 409
    assert response.json() == {"detail": "raw_key already exists; generate a new key value"}
    assert count_rows(harness, "api_keys") == 2


async def test_list_shows_only_own_keys(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    await mint(client)
    mine = (await client.get("/v1/auth/keys")).json()
    assert [k["entity_uri"] for k in mine] == ["agent:admin"]
    assert list(mine[0]) == [
        "id", "entity_uri", "permissions", "description", "created_at", "expires_at", "oidc_sub"
    ]  # fmt: skip
    async with harness.client(RAW) as other:
        theirs = (await other.get("/v1/auth/keys")).json()
    assert [k["entity_uri"] for k in theirs] == ["agent:x"]


async def test_expiring_soon(clocked: NodeHarness) -> None:
    assert clocked.clock is not None
    now = clocked.clock.now()
    async with clocked.client() as client:
        soon = (await mint(client, expires_at=format_ts(now + timedelta(days=10)))).json()
        default_window = (await client.get("/v1/auth/keys/expiring-soon")).json()
        assert [k["id"] for k in default_window] == [soon["id"]]
        assert default_window[0]["days_remaining"] == 10
        assert default_window[0]["tenant_id"] == "default"
        assert default_window[0]["entity_uri"] == "agent:x"
        wide = (await client.get("/v1/auth/keys/expiring-soon", params={"within_days": 90})).json()
        assert len(wide) == 2  # the bootstrap key expires after exactly 90 days
        narrow = (await client.get("/v1/auth/keys/expiring-soon", params={"within_days": 9})).json()
        assert narrow == []
        for bad in (0, 366, "x"):
            response = await client.get("/v1/auth/keys/expiring-soon", params={"within_days": bad})
            assert response.status_code == 422


async def test_revoke_own_key_takes_effect_at_once(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    created = (await mint(client, permissions=["read"])).json()
    async with harness.client(RAW) as own:
        assert (await own.get("/v1/me")).status_code == 200  # now verified and cached
        response = await own.delete(f"/v1/auth/keys/{created['id']}")
        assert response.status_code == 204
        assert response.content == b""
        after = await own.get("/v1/me")
        assert after.status_code == 401
        assert after.json() == {"detail": "Invalid or expired API key"}
    assert count_rows(harness, "api_keys", f"id = '{created['id']}'") == 0
    assert count_rows(harness, "audit_log", "event_type = 'api_key_revoked'") == 1


async def test_cannot_revoke_another_entitys_key(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    created = (await mint(client)).json()
    response = await client.delete(f"/v1/auth/keys/{created['id']}")  # even an admin
    assert response.status_code == 403
    assert response.json() == {"detail": "Cannot revoke another entity's key"}
    missing = await client.delete("/v1/auth/keys/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Key not found"}
    async with harness.client(RAW) as c:
        assert (await c.get("/v1/me")).status_code == 200
    assert count_rows(harness, "api_keys") == 2


async def test_expired_key_is_401(clocked: NodeHarness) -> None:
    assert clocked.clock is not None
    async with clocked.client() as client:
        await mint(client, expires_at=format_ts(clocked.clock.now() + timedelta(hours=1)))
    async with clocked.client(RAW) as c:
        assert (await c.get("/v1/me")).status_code == 200  # verified and cached
        clocked.clock.advance(30 * 60)
        assert (await c.get("/v1/me")).status_code == 200
        clocked.clock.advance(31 * 60)
        response = await c.get("/v1/me")
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid or expired API key"}


async def test_minting_an_oidc_identity_is_refused(client: httpx.AsyncClient) -> None:
    before = (await client.get("/v1/auth/keys/expiring-soon", params={"within_days": 365})).json()
    refused = await client.post(
        "/v1/auth/keys", json={"entity_uri": "oidc:someone", "permissions": ["read"]}
    )
    assert refused.status_code == 400
    assert refused.json()["detail"]["code"] == "reserved_entity_uri"
    after = (await client.get("/v1/auth/keys/expiring-soon", params={"within_days": 365})).json()
    assert after == before  # no key was written
