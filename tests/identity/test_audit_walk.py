"""Walk every write route: each leaves its audit event, written with the change it records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import NodeHarness, fact_body, start_node
from tests.identity.issuer import Issuer, rsa_key
from tests.identity.support import events, public_b64, rows

# Write routes walked below, and the event each must leave.
WALKED = {
    ("POST", "/v1/facts"): "fact_write / fact_retract",
    ("POST", "/v1/facts/batch"): "fact_write per item + fact_batch",
    ("POST", "/v1/conflicts/{conflict_id}/resolve"): "conflict_resolved",
    ("POST", "/v1/auth/keys"): "api_key_created",
    ("DELETE", "/v1/auth/keys/{key_id}"): "api_key_revoked",
    ("POST", "/v1/auth/agent-keys"): "agent_key_registered",
    ("DELETE", "/v1/auth/agent-keys/{key_id}"): "agent_key_revoked",
    ("POST", "/v1/auth/oidc/exchange"): "oidc_exchange",
}
# Write-method routes that change nothing, or whose feature audits and tests them itself.
ELSEWHERE = {
    "/v1/facts/{fact_id}/verify-cid": "a read",
    "/v1/lint": "a read (its async job row is not a change of data)",
    "/v1/recall": "a read",
    "/v1/decay/": "decay feature",
    "/v1/gardens": "gardens feature",
    "/v1/quarantine/": "gardens feature (quarantine actions)",
    "/v1/federation/": "federation feature (federation audit)",
}


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer([rsa_key("k1")]) as running:
        yield running


@pytest.fixture
async def node(tmp_path: Path, issuer: Issuer) -> AsyncIterator[NodeHarness]:
    async for h in start_node(
        tmp_path,
        oidc_enabled=True,
        oidc_issuer_url=issuer.url,
        oidc_audience="walk",
        oidc_allow_insecure_issuer=True,
    ):
        yield h


def write_routes(node: NodeHarness) -> set[tuple[str, str]]:
    found = set()
    for path, operations in node.app.openapi()["paths"].items():
        for method in operations:
            if method in ("post", "put", "patch", "delete"):
                found.add((method.upper(), path))
    return found


async def test_every_write_route_is_walked_or_owned(node: NodeHarness) -> None:
    unknown = {
        (method, path)
        for method, path in write_routes(node) - set(WALKED)
        if not any(path.startswith(prefix) for prefix in ELSEWHERE)
    }
    assert not unknown, f"write routes with no audit walk: {sorted(unknown)}"


async def test_walk(node: NodeHarness, issuer: Issuer) -> None:
    async with node.client() as admin:
        fact = (await admin.post("/v1/facts", json=fact_body())).json()
        retraction = (await admin.post("/v1/facts", json=fact_body(confidence=0.0))).json()
        batch = await admin.post(
            "/v1/facts/batch",
            json={"facts": [fact_body(entity="user:b1"), fact_body(entity="user:b2")]},
        )
        batch_ids = [r["fact"]["id"] for r in batch.json()["results"]]
        await admin.post("/v1/facts", json=fact_body(entity="user:c"))
        rival = await admin.post(
            "/v1/facts", json=fact_body(entity="user:c", value={"type": "string", "v": "red"})
        )
        [conflict] = (await admin.get("/v1/conflicts")).json()["conflicts"]
        resolved = await admin.post(
            f"/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"winning_fact_id": rival.json()["id"]},
        )
        key = await admin.post("/v1/auth/keys", json={"entity_uri": "agent:admin"})
        await admin.delete(f"/v1/auth/keys/{key.json()['id']}")
        agent_key = await admin.post(
            "/v1/auth/agent-keys", json={"public_key": public_b64(Ed25519PrivateKey.generate())}
        )
        await admin.delete(f"/v1/auth/agent-keys/{agent_key.json()['id']}")
    async with node.client(None) as anonymous:
        now = int(node.node.clock.now().timestamp())
        token = issuer.mint(
            {"iss": issuer.url, "aud": "walk", "sub": "walker", "iat": now, "exp": now + 60}
        )
        exchanged = await anonymous.post("/v1/auth/oidc/exchange", json={"id_token": token})
        assert exchanged.status_code == 200

    async def fact_ids(event_type: str) -> list[str | None]:
        return [e["fact_id"] for e in await events(node, event_type)]

    writes = await fact_ids("fact_write")
    assert fact["id"] in writes
    assert set(batch_ids) <= set(writes)
    assert await fact_ids("fact_retract") == [retraction["id"]]
    [batch_event] = await events(node, "fact_batch")
    assert (batch_event["detail"]["accepted"], batch_event["detail"]["rejected"]) == (2, 0)
    [resolution] = await events(node, "conflict_resolved")
    assert resolution["fact_id"] == resolved.json()["resolution_fact_id"]
    assert resolution["detail"]["conflict_id"] == conflict["conflict_id"]
    created = [e["detail"]["key_id"] for e in await events(node, "api_key_created")]
    assert key.json()["id"] in created
    revoked = [e["detail"]["key_id"] for e in await events(node, "api_key_revoked")]
    assert key.json()["id"] in revoked
    registered = await events(node, "agent_key_registered")
    assert [e["detail"]["key_id"] for e in registered] == [agent_key.json()["id"]]
    assert len(await events(node, "agent_key_revoked")) == 1
    [oidc] = await events(node, "oidc_exchange")
    assert (oidc["entity_uri"], oidc["oidc_sub"]) == ("oidc:walker", "walker")


async def test_a_refused_write_leaves_no_event(node: NodeHarness) -> None:
    """The event commits with its change: when the change rolls back, so does the event."""
    async with node.client() as admin:
        await admin.post("/v1/facts", json=fact_body())
        await admin.post(
            "/v1/facts", json=fact_body(value={"type": "string", "v": "red"})
        )  # a conflict
        [conflict] = (await admin.get("/v1/conflicts")).json()["conflicts"]
        url = f"/v1/conflicts/{conflict['conflict_id']}/resolve"
        before = rows(node, "SELECT COUNT(*) FROM audit_log")
        wrong = await admin.post(url, json={"winning_fact_id": "not-one-of-them"})
        assert wrong.status_code == 422
        assert rows(node, "SELECT COUNT(*) FROM audit_log") == before
        twice = [await admin.post(url, json={"new_value": {"type": "string", "v": "x"}})]
        twice.append(await admin.post(url, json={"new_value": {"type": "string", "v": "y"}}))
        assert [r.status_code for r in twice] == [200, 409]
    assert len(await events(node, "conflict_resolved")) == 1
