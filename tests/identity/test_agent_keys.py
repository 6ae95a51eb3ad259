"""``/v1/auth/agent-keys``: register, list, revoke; every bad input refused with nothing written."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stigmem_node.auth import agent_keys
from tests import pg
from tests.conftest import NodeHarness
from tests.identity.support import b64url, count, events, mint_key, public_b64, rows


async def test_register_list_revoke(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    key = Ed25519PrivateKey.generate()
    padded = public_b64(key) + "="
    response = await client.post(
        "/v1/auth/agent-keys", json={"public_key": padded, "description": "laptop"}
    )
    assert response.status_code == 201
    record = response.json()
    assert list(record) == [
        "id", "entity_uri", "public_key", "description", "registered_at", "status",
    ]  # fmt: skip
    assert record["entity_uri"] == "agent:admin"
    assert record["public_key"] == public_b64(key)  # stored unpadded
    assert record["status"] == "active"
    assert (await client.get("/v1/auth/agent-keys")).json() == [record]

    assert (await client.delete(f"/v1/auth/agent-keys/{record['id']}")).status_code == 204
    listed = (await client.get("/v1/auth/agent-keys")).json()
    assert [k["status"] for k in listed] == ["revoked"]  # revoked keys stay listed
    assert [e["detail"]["key_id"] for e in await events(harness, "agent_key_registered")] == [
        record["id"]
    ]
    assert [e["detail"]["key_id"] for e in await events(harness, "agent_key_revoked")] == [
        record["id"]
    ]


async def test_list_is_own_keys_newest_first(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    other = await mint_key(client, "agent:other")
    async with harness.client(other) as other_client:
        await other_client.post(
            "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
        )
        assert len((await other_client.get("/v1/auth/agent-keys")).json()) == 1
    assert (await client.get("/v1/auth/agent-keys")).json() == []


@pytest.mark.parametrize(
    ("public_key", "detail"),
    [
        ("not base64!", "invalid Ed25519 public key: not base64url"),
        ("a", "invalid Ed25519 public key: not base64url"),
        (b64url(b"\x01" * 31), "invalid Ed25519 public key: expected 32 bytes, got 31"),
        (b64url(b"\x01" * 33), "invalid Ed25519 public key: expected 32 bytes, got 33"),
        ("", None),  # empty: 422 from validation
    ],
)
async def test_bad_public_keys(
    harness: NodeHarness, client: httpx.AsyncClient, public_key: str, detail: str | None
) -> None:
    audit_before = count(harness, "audit_log")
    response = await client.post("/v1/auth/agent-keys", json={"public_key": public_key})
    if detail is None:
        assert response.status_code == 422
    else:
        assert response.status_code == 400
        assert response.json() == {"detail": detail}
    assert count(harness, "agent_keys") == 0
    assert count(harness, "audit_log") == audit_before


async def test_register_needs_write(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    reader = await mint_key(client, "agent:reader", ["read"])
    async with harness.client(reader) as reader_client:
        response = await reader_client.post(
            "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "write permission required"}
        assert (await reader_client.get("/v1/auth/agent-keys")).status_code == 200
    assert count(harness, "agent_keys") == 0


async def test_revoke_errors(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
    )
    key_id = created.json()["id"]
    missing = await client.delete("/v1/auth/agent-keys/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()) == (404, {"detail": "agent key not found"})

    other = await mint_key(client, "agent:other")
    async with harness.client(other) as other_client:
        foreign = await other_client.delete(f"/v1/auth/agent-keys/{key_id}")
    assert foreign.status_code == 403
    assert foreign.json() == {"detail": "cannot revoke another entity's key"}
    assert rows(harness, "SELECT status FROM agent_keys")[0][0] == "active"

    assert (await client.delete(f"/v1/auth/agent-keys/{key_id}")).status_code == 204
    again = await client.delete(f"/v1/auth/agent-keys/{key_id}")
    assert (again.status_code, again.json()) == (409, {"detail": "key is already revoked"})
    assert len(await events(harness, "agent_key_revoked")) == 1


async def test_active_key_cap(
    harness: NodeHarness, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_keys, "MAX_ACTIVE_KEYS_PER_ENTITY", 2)
    ids = []
    for _ in range(2):
        response = await client.post(
            "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
        )
        ids.append(response.json()["id"])
    refused = await client.post(
        "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
    )
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "too_many_agent_keys"
    assert count(harness, "agent_keys") == 2
    await client.delete(f"/v1/auth/agent-keys/{ids[0]}")  # a revoked key frees a slot
    freed = await client.post(
        "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
    )
    assert freed.status_code == 201


async def test_database_refuses_changes_other_than_revocation(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    await client.post(
        "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
    )
    with pg.RawConnection(harness.node.settings) as conn:
        conn.begin()
        for sql in (
            "UPDATE agent_keys SET entity_uri = 'agent:thief'",
            "UPDATE agent_keys SET public_key = 'x'",
            "UPDATE agent_keys SET status = 'revoked'",  # a revocation records its time
            "DELETE FROM agent_keys",
        ):
            with pytest.raises(pg.INTEGRITY_ERRORS):
                conn.execute(sql)
        conn.execute("UPDATE agent_keys SET status = 'revoked', revoked_at = 'now'")
        with pytest.raises(pg.INTEGRITY_ERRORS):  # and it is final
            conn.execute("UPDATE agent_keys SET status = 'active', revoked_at = NULL")
        conn.rollback()
    assert rows(harness, "SELECT entity_uri, status FROM agent_keys") == [("agent:admin", "active")]
