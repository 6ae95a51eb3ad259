"""Helpers shared by the decay, lint, jobs, recall and graph tests."""

from __future__ import annotations

from typing import Any

import httpx

from stigmem_node.db import Cursor
from tests.conftest import NodeHarness, fact_body


async def put(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Assert one fact (``fact_body`` defaults); fail the test unless it is created."""
    created = await client.post("/v1/facts", json=fact_body(**overrides))
    assert created.status_code == 201, created.text
    return dict(created.json())


def ref(entity: str, target: str, relation: str = "rel:knows", **overrides: Any) -> dict[str, Any]:
    body = {"entity": entity, "relation": relation, "value": {"type": "ref", "v": target}}
    return {**body, **overrides}


async def mint(admin: httpx.AsyncClient, entity_uri: str, permissions: list[str]) -> str:
    created = await admin.post(
        "/v1/auth/keys", json={"entity_uri": entity_uri, "permissions": permissions}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["raw_key"])


def _counts_txn(cur: Cursor) -> dict[str, int]:
    tables = ("facts", "fact_validity_overrides", "fact_retractions", "jobs")
    counts = {t: int(cur.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables}
    counts["decay_audit"] = int(
        cur.execute("SELECT COUNT(*) FROM audit_log WHERE event_type = 'decay_sweep'").fetchone()[0]
    )
    return counts


async def counts(h: NodeHarness) -> dict[str, int]:
    """Row counts of everything decay, lint and jobs may write (for 'nothing written')."""
    return await h.node.db.read("test_counts", _counts_txn)
