"""The auth edge: exact 401s, WWW-Authenticate, anonymous callers, admin implies all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from stigmem_node.auth.service import BOOTSTRAP_PERMISSIONS
from tests.conftest import ADMIN_KEY, NodeHarness, fact_body, start_node
from tests.facts.support import count_rows

MISSING = {"detail": "Authorization header required"}
INVALID = {"detail": "Invalid or expired API key"}


@pytest.fixture
async def anon(harness: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with harness.client(None) as c:
        yield c


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, MISSING),
        ({"Authorization": ""}, MISSING),
        ({"Authorization": f"Basic {ADMIN_KEY}"}, MISSING),
        ({"Authorization": "Bearer"}, MISSING),
        ({"Authorization": "Bearer   "}, MISSING),
        ({"Authorization": ADMIN_KEY}, MISSING),
        ({"Authorization": "Bearer wrong-key"}, INVALID),
        ({"Authorization": f"Bearer {ADMIN_KEY}x"}, INVALID),
        ({"Authorization": "Bearer " + "k" * 5000}, INVALID),
    ],
)
async def test_401_texts(
    anon: httpx.AsyncClient, headers: dict[str, str], body: dict[str, str]
) -> None:
    for method, path in (("GET", "/v1/facts"), ("POST", "/v1/facts"), ("GET", "/v1/me")):
        response = await anon.request(method, path, headers=headers, json=fact_body())
        assert response.status_code == 401
        assert response.json() == body
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_scheme_is_case_insensitive(anon: httpx.AsyncClient, scheme: str) -> None:
    response = await anon.get("/v1/me", headers={"Authorization": f"{scheme} {ADMIN_KEY}"})
    assert response.status_code == 200


async def test_nothing_is_written_without_credentials(
    harness: NodeHarness, anon: httpx.AsyncClient
) -> None:
    assert (await anon.post("/v1/facts", json=fact_body())).status_code == 401
    assert (await anon.post("/v1/facts/batch", json={"facts": [fact_body()]})).status_code == 401
    assert count_rows(harness) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nope"),
        ("POST", "/v1/instructions/manifest"),
        ("GET", "/v1/tombstones"),
        ("DELETE", "/v1/facts/00000000-0000-4000-8000-000000000000"),
    ],
)
async def test_unknown_routes_are_401_before_routing(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anon.request(method, path)
    assert response.status_code == 401
    assert response.json() == MISSING
    authed = await client.request(method, path)
    assert authed.status_code in (404, 405)


@pytest.mark.parametrize("path", ["/healthz", "/.well-known/stigmem", "/openapi.json", "/metrics"])
async def test_open_routes_need_no_key(anon: httpx.AsyncClient, path: str) -> None:
    assert (await anon.get(path)).status_code == 200


async def test_me(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me")
    assert response.json() == {
        "entity_uri": "agent:admin",
        "permissions": sorted(BOOTSTRAP_PERMISSIONS),
        "oidc_sub": None,
        "tenant_id": "default",
    }


async def test_auth_failures_are_counted(harness: NodeHarness, anon: httpx.AsyncClient) -> None:
    await anon.get("/v1/facts")
    await anon.get("/v1/facts", headers={"Authorization": "Bearer nope"})
    metrics = (await anon.get("/metrics")).text
    assert "stigmem_auth_failures_total 2.0" in metrics


async def test_auth_off_makes_everyone_anon_trusted(tmp_path: Path) -> None:
    async for node in start_node(tmp_path, auth_required=False):
        assert not (tmp_path / "admin.key").exists()  # no bootstrap without auth
        expected = {
            "entity_uri": "anon:trusted",
            "permissions": ["federate", "read", "write"],
            "oidc_sub": None,
            "tenant_id": "default",
        }
        for key in (None, "bad-key", ADMIN_KEY):  # no key was registered
            async with node.client(key) as c:
                assert (await c.get("/v1/me")).json() == expected
                created = await c.post("/v1/facts", json=fact_body(entity=f"user:{key}"))
                assert created.status_code == 201
                refused = await c.post(
                    "/v1/auth/keys", json={"entity_uri": "agent:x", "permissions": ["read"]}
                )
                assert refused.status_code == 403
        # With auth off, a valid key still resolves to its own identity.
        raw = "known-key-0123456789abcdefghijklmnopqrstuv"
        node.node.keys.insert_sync(node.node.keys.build_key(raw, "agent:known", ["read"]), "t")
        async with node.client(raw) as c:
            assert (await c.get("/v1/me")).json()["entity_uri"] == "agent:known"
        async with node.client(None) as c:
            assert (await c.get("/.well-known/stigmem")).json()["auth"] == "none"


async def test_admin_implies_every_permission(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    raw = "only-admin-0123456789abcdefghijklmnopqrstu"
    minted = await client.post(
        "/v1/auth/keys", json={"raw_key": raw, "entity_uri": "agent:boss", "permissions": ["admin"]}
    )
    assert minted.status_code == 201
    async with harness.client(raw) as boss:
        created = await boss.post("/v1/facts", json=fact_body())
        assert created.status_code == 201
        assert (await boss.get("/v1/facts")).status_code == 200
        assert (await boss.get("/v1/conflicts")).status_code == 200
        instruction = fact_body(
            entity="user:b", value={"type": "string", "v": "x", "interpret_as": "instruction"}
        )
        assert (await boss.post("/v1/facts", json=instruction)).status_code == 201
        assert (await boss.get("/v1/auth/keys/expiring-soon")).status_code == 200


async def test_read_only_key_cannot_write_or_mint(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    raw = "read-only-0123456789abcdefghijklmnopqrstuv"
    await client.post(
        "/v1/auth/keys", json={"raw_key": raw, "entity_uri": "agent:r", "permissions": ["read"]}
    )
    async with harness.client(raw) as reader:
        assert (await reader.get("/v1/facts")).status_code == 200
        assert (await reader.post("/v1/facts", json=fact_body())).json() == {
            "detail": "write permission required"
        }
        minted = await reader.post("/v1/auth/keys", json={"entity_uri": "agent:x"})
        assert minted.status_code == 403
        assert minted.json() == {"detail": "admin permission required to mint API keys"}
        assert (await reader.get("/v1/auth/keys/expiring-soon")).status_code == 403
    assert count_rows(harness) == 0
    assert count_rows(harness, "api_keys") == 2
