"""Organisation manifests and capability tokens, and pushes authorised by a capability."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from stigmem_node.clock import FakeClock
from stigmem_node.facts.cid import compute_cid
from stigmem_node.federation.keys import NodeKeys
from stigmem_node.federation.manifests import manifest_bytes
from tests.conftest import NodeHarness, start_node

ORG = "stigmem://acme.test/org/acme"
AGENT = "agent:pusher"


def manifest(keys: NodeKeys, now: datetime, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "manifest_version": "1",
        "entity_uri": ORG,
        "public_key": keys.pubkey,
        "key_id": "k1",
        "entities": [AGENT],
        "rotation_events": [],
        "issued_at": now.isoformat(),
        "expires_at": (now + timedelta(days=30)).isoformat(),
    }
    body.update(overrides)
    body["signature"] = keys.sign(manifest_bytes(body))
    return body


async def org_client(node: NodeHarness) -> httpx.AsyncClient:
    async with node.client() as admin:
        minted = await admin.post(
            "/v1/auth/keys", json={"entity_uri": ORG, "permissions": ["read", "write"]}
        )
    assert minted.status_code == 201, minted.text
    return node.client(minted.json()["raw_key"])


async def test_manifest_put_and_get(tmp_path: Path) -> None:
    clock = FakeClock()
    keys = NodeKeys.generate()
    async for node in start_node(tmp_path, clock=clock):
        async with await org_client(node) as org:
            body = manifest(keys, clock.now())
            put = await org.put("/v1/federation/manifest", json=body)
            assert put.status_code == 200, put.text
            assert put.json() == {
                "entity_uri": ORG,
                "key_id": "k1",
                "issued_at": body["issued_at"],
                "expires_at": body["expires_at"],
            }
            got = await org.get(f"/v1/federation/manifest/{ORG}")
            assert got.status_code == 200
            assert got.json()["signature"] == body["signature"]
            missing = await org.get("/v1/federation/manifest/stigmem://nobody/org/x")
            assert (missing.status_code, missing.json()) == (
                404,
                {"detail": "manifest not found or expired"},
            )
            clock.advance(31 * 86_400)
            assert (await org.get(f"/v1/federation/manifest/{ORG}")).status_code == 404


async def test_bad_manifests_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    clock = FakeClock()
    keys = NodeKeys.generate()
    async for node in start_node(tmp_path, clock=clock):
        async with await org_client(node) as org:
            now = clock.now()
            forged = {**manifest(keys, now), "entities": [AGENT, "agent:extra"]}
            too_long = manifest(keys, now, expires_at=(now + timedelta(days=731)).isoformat())
            expired = manifest(keys, now - timedelta(days=40))
            for body, status in (
                (forged, 422),
                (too_long, 422),
                (expired, 422),
                (manifest(keys, now, entity_uri="stigmem://other/org/o"), 403),
            ):
                response = await org.put("/v1/federation/manifest", json=body)
                assert response.status_code == status, response.text
            assert (await org.get(f"/v1/federation/manifest/{ORG}")).status_code == 404
            assert (
                await org.put("/v1/federation/manifest", json=manifest(keys, now))
            ).status_code == 200
            stale = await org.put("/v1/federation/manifest", json=manifest(keys, now))
            assert stale.status_code == 409
            assert stale.json()["detail"]["code"] == "manifest_key_regression"
            for _ in range(9):
                clock.advance(60)
                later = manifest(keys, clock.now())
                assert (await org.put("/v1/federation/manifest", json=later)).status_code == 200
            clock.advance(60)
            limited = await org.put("/v1/federation/manifest", json=manifest(keys, clock.now()))
            assert limited.status_code == 429
            assert limited.headers["Retry-After"] == "3600"
            stored = (await org.get(f"/v1/federation/manifest/{ORG}")).json()
            assert stored["issued_at"] == later["issued_at"]


async def test_capability_tokens_issue_verify_revoke(tmp_path: Path) -> None:
    clock = FakeClock()
    async for node in start_node(
        tmp_path, clock=clock, federation_enabled=True, federation_insecure=True
    ):
        async with await org_client(node) as org:
            await org.put(
                "/v1/federation/manifest", json=manifest(NodeKeys.generate(), clock.now())
            )
            request = {
                "issuer": ORG,
                "subject": AGENT,
                "verb": "write",
                "object": "stigmem://facts",
                "ttl_seconds": 600,
            }
            for bad, status in (
                ({**request, "issuer": "stigmem://x/org/y"}, 403),
                ({**request, "subject": "agent:stranger"}, 403),
                ({**request, "ttl_seconds": 91 * 86_400}, 422),
            ):
                assert (
                    await org.post("/v1/federation/capability-tokens", json=bad)
                ).status_code == status
            issued = await org.post("/v1/federation/capability-tokens", json=request)
            assert issued.status_code == 201, issued.text
            body = issued.json()
            assert set(body) == {
                "token_id",
                "issuer",
                "subject",
                "verb",
                "object",
                "issued_at",
                "expiry",
                "nonce",
                "token_json",
            }
            token = orjson.loads(body["token_json"])
            assert token["token_version"] == 1
            assert len(token["nonce"]) == 64
            assert await verify(org, body["token_json"]) == {"valid": True}
            tampered = orjson.dumps({**token, "verb": "admin"}).decode()
            assert await verify(org, tampered) == {"valid": False, "reason": "token_invalid"}
            assert await verify(org, "{}") == {"valid": False, "reason": "token_invalid"}
            clock.advance(601)
            assert await verify(org, body["token_json"]) == {
                "valid": False,
                "reason": "token_expired",
            }
            revoke = f"/v1/federation/capability-tokens/{body['token_id']}/revoke"
            async with node.client() as admin:
                stranger = (
                    await admin.post(
                        "/v1/auth/keys",
                        json={"entity_uri": "agent:stranger", "permissions": ["write"]},
                    )
                ).json()["raw_key"]
            async with node.client(stranger) as other:
                assert (await other.post(revoke, json={})).status_code == 403
            done = await org.post(revoke, json={"reason": "rotated"})
            assert done.status_code == 200
            assert done.json()["status"] == "revoked"
            assert (await org.post(revoke, json={})).status_code == 409
            assert (
                await org.post("/v1/federation/capability-tokens/nope/revoke", json={})
            ).status_code == 404
            assert await verify(org, body["token_json"]) == {
                "valid": False,
                "reason": "token_revoked",
            }


async def verify(client: httpx.AsyncClient, token_json: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/federation/capability-tokens/verify", json={"token_json": token_json}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def pushed_fact(scope: str, source: str = AGENT) -> dict[str, Any]:
    entity = f"user:{uuid.uuid4().hex[:8]}"
    return {
        "id": str(uuid.uuid4()),
        "entity": entity,
        "relation": "pref:x",
        "source": source,
        "value": {"type": "string", "v": "v"},
        "confidence": 1.0,
        "scope": scope,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "hlc": None,
        "cid": compute_cid(
            entity=entity,
            relation="pref:x",
            value_type="string",
            value_v="v",
            source=source,
            confidence=1.0,
            scope=scope,
        ),
    }


async def test_push_with_a_capability_token(tmp_path: Path) -> None:
    async for node in start_node(
        tmp_path, federation_enabled=True, federation_insecure=True, federation_push_enabled=True
    ):
        async with await org_client(node) as org:
            now = datetime.now(node.node.clock.now().tzinfo)
            await org.put("/v1/federation/manifest", json=manifest(NodeKeys.generate(), now))
            tokens = {}
            for verb, target in (
                ("write", "stigmem://facts/scope:public"),
                ("read", "stigmem://facts"),
            ):
                issued = await org.post(
                    "/v1/federation/capability-tokens",
                    json={"issuer": ORG, "subject": AGENT, "verb": verb, "object": target},
                )
                tokens[verb] = issued.json()["token_json"]
        async with node.client(None) as anonymous:
            facts = [
                pushed_fact("public"),
                pushed_fact("company"),
                pushed_fact("public", source="agent:someone-else"),
            ]
            pushed = await anonymous.post(
                "/v1/federation/facts/push",
                json={"facts": facts},
                headers={"X-Stigmem-Capability": tokens["write"]},
            )
            assert pushed.status_code == 202, pushed.text
            assert pushed.json() == {
                "accepted": 1,
                "rejected": 2,
                "errors": [
                    {"fact_id": facts[1]["id"], "error": "scope_not_permitted"},
                    {"fact_id": facts[2]["id"], "error": "source_not_owned"},
                ],
            }
            read_only = await anonymous.post(
                "/v1/federation/facts/push",
                json={"facts": []},
                headers={"X-Stigmem-Capability": tokens["read"]},
            )
            assert (read_only.status_code, read_only.json()) == (
                403,
                {"detail": "capability verb must be write"},
            )
            bogus = await anonymous.post(
                "/v1/federation/facts/push",
                json={"facts": []},
                headers={"X-Stigmem-Capability": "{}"},
            )
            assert (bogus.status_code, bogus.json()) == (401, {"detail": "token_invalid"})
            # A presented peer token that fails decides the request: no fall-through to a
            # valid capability (a stolen or mismatched token must not ride on one).
            forged_fact = pushed_fact("public")
            forged = await anonymous.post(
                "/v1/federation/facts/push",
                json={"facts": [forged_fact]},
                headers={
                    "Authorization": "Bearer not.a.token",
                    "X-Stigmem-Capability": tokens["write"],
                },
            )
            assert (forged.status_code, forged.json()) == (401, {"detail": "malformed token"})
            none = await anonymous.post("/v1/federation/facts/push", json={"facts": []})
            assert (none.status_code, none.json()) == (
                401,
                {"detail": "peer token or X-Stigmem-Capability header required"},
            )
        async with node.client() as admin:
            stored = (await admin.get(f"/v1/facts/{facts[0]['id']}")).json()
            assert stored["received_from"] == ORG
            assert (await admin.get(f"/v1/facts/{forged_fact['id']}")).status_code == 404
            audit = (await admin.get("/v1/federation/audit")).json()["entries"]
            kinds = {e["event_type"] for e in audit}
            assert {"capability_verified", "capability_rejected"} <= kinds
