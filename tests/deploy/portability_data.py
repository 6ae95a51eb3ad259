"""A node's worth of varied memory for the export/import tests: every value type, scopes,
expiry, provenance, retractions, conflicts (one resolved), decay overrides, gardens with
members, a quarantine hold, agent keys, and facts received from a peer."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stigmem_node.facts.store import NewFact, insert_row_txn
from stigmem_node.node import Node
from tests.conftest import fact_body

VALUES: list[dict[str, Any]] = [
    {"type": "string", "v": "blue"},
    {"type": "text", "v": "a longer text\nwith lines and ünïcödé ✓"},
    {"type": "number", "v": 42},
    {"type": "number", "v": 42.5},
    {"type": "number", "v": -0.1},
    {"type": "boolean", "v": True},
    {"type": "datetime", "v": "2026-02-03T04:05:06+00:00"},
    {"type": "ref", "v": "stigmem://acme/user/bob"},
    {"type": "null"},
]


async def post(client: httpx.AsyncClient, path: str, body: Any, status: int = 201) -> Any:
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def populate(client: httpx.AsyncClient, node: Node) -> None:
    """Fill the node through its API (and a peer's facts through the federation write path)."""
    for i, value in enumerate(VALUES):
        for scope in ("local", "company", "public"):
            await post(client, "/v1/facts", fact_body(
                entity=f"stigmem://acme/thing/t{i}", relation="memory:kind", value=value,
                scope=scope, confidence=0.5 + i / 20,
            ))  # fmt: skip
    await post(client, "/v1/facts", fact_body(
        entity="user:carol", relation="memory:note",
        value={"type": "string", "v": "run", "interpret_as": "instruction"},
        valid_until="2030-01-01T00:00:00Z",
    ))  # fmt: skip
    await post(
        client, "/v1/facts", fact_body(entity="user:dora", valid_until="2026-01-01T00:00:01Z")
    )
    # A retraction (confidence 0 of the same content).
    await post(client, "/v1/facts", fact_body(entity="user:erin"))
    await post(client, "/v1/facts", fact_body(entity="user:erin", confidence=0.0))
    # Two conflicts; one resolved.
    for entity in ("user:fay", "user:gus"):
        first = await post(client, "/v1/facts", fact_body(entity=entity))
        second = await post(client, "/v1/facts", fact_body(
            entity=entity, value={"type": "string", "v": "red"}, source="agent:other",
        ))  # fmt: skip
        assert second["contradicted"], second
    [conflict] = [
        c for c in (await client.get("/v1/conflicts")).json()["conflicts"]
        if first["id"] in (c["fact_a"]["id"], c["fact_b"]["id"])
    ]  # fmt: skip
    await post(client, f"/v1/conflicts/{conflict['conflict_id']}/resolve",
               {"winning_fact_id": first["id"], "resolution_note": "kept"}, 200)  # fmt: skip
    await _gardens(client)
    await _agent_key_and_peer_facts(client, node)
    # Decay: expire what has no expiry and is older than an hour (validity overrides).
    await post(client, "/v1/facts", fact_body(entity="user:old"))
    assert node.clock is not None
    node.clock.advance(7200)  # type: ignore[attr-defined]
    await post(client, "/v1/facts", fact_body(entity="user:new"))
    swept = await post(client, "/v1/decay/sweep?ttl_seconds=3600&scope=company", None, 200)
    assert swept["decayed"] > 0, swept


async def _gardens(client: httpx.AsyncClient) -> None:
    await post(client, "/v1/gardens", {"slug": "team-x", "name": "Team X", "scope": "company"})
    await post(
        client, "/v1/gardens/team-x/members", {"entity_uri": "agent:reader", "role": "reader"}
    )
    await post(client, "/v1/facts", fact_body(
        entity="user:hal", garden_id="stigmem://acme/garden/team-x",
    ))  # fmt: skip
    await post(client, "/v1/gardens", {"slug": "inbox", "name": "Inbox", "quarantine": True})
    await post(
        client, "/v1/facts", fact_body(entity="user:ivy", garden_id="stigmem://acme/garden/inbox")
    )


async def _agent_key_and_peer_facts(client: httpx.AsyncClient, node: Node) -> None:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key = await post(client, "/v1/auth/agent-keys", {
        "public_key": base64.urlsafe_b64encode(raw).decode().rstrip("="), "description": "bot",
    })  # fmt: skip
    peer_fact = NewFact(
        entity="stigmem://peer/user/jo", relation="memory:role", value_type="string",
        value_v="ops", source="agent:peer-bot", confidence=0.9, scope="public",
        received_from="stigmem:node:11111111-2222-3333-4444-555555555555",
        origin_node_id="stigmem:node:66666666-7777-8888-9999-000000000000",
        origin_allowed_scopes=["company", "public"], re_federation_blocked=True,
        attested_key_id=key["key_id"] if "key_id" in key else key["id"],
        derived_from=[{"fact_id": "x", "hash": "sha256:00"}],
    )  # fmt: skip
    await node.db.write("peer_fact", insert_row_txn, node.write_ctx, peer_fact)
