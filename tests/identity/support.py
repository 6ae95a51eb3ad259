"""Helpers for the identity and audit tests: keys, signatures, raw audit rows."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests import pg
from tests.conftest import NodeHarness


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url(raw)


def sign_fact(key: Ed25519PrivateKey, body: dict[str, Any], encoded_v: str) -> str:
    """Upstream's attestation over the raw request strings."""
    message = "\n".join(
        (body["entity"], body["relation"], body["value"]["type"], encoded_v, body["source"])
    )
    return b64url(key.sign(message.encode()))


async def mint_key(
    client: httpx.AsyncClient, entity_uri: str, permissions: list[str] | None = None, **extra: Any
) -> str:
    """A fresh API key for ``entity_uri`` (minted by the admin ``client``)."""
    body = {"entity_uri": entity_uri, "permissions": permissions or ["read", "write"], **extra}
    response = await client.post("/v1/auth/keys", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["raw_key"])


def rows(harness: NodeHarness, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Committed rows, read through the node's own database (either engine)."""
    return pg.rows(harness.node.db, sql, params)


def count(
    harness: NodeHarness, table: str, where: str = "1=1", params: tuple[Any, ...] = ()
) -> int:
    return int(rows(harness, f"SELECT COUNT(*) FROM {table} WHERE {where}", params)[0][0])


async def events(
    harness: NodeHarness, event_type: str, *, close_windows: bool = False
) -> list[dict[str, Any]]:
    """Every audit row of one type, oldest first, after writing pending security events
    (and, with ``close_windows``, the summaries of every open coalescing window)."""
    await harness.node.audit.security.flush(close_all=close_windows)
    found = rows(
        harness,
        "SELECT entity_uri, oidc_sub, fact_id, source, attested_key_id, detail FROM audit_log"
        " WHERE event_type = ? ORDER BY seq",
        (event_type,),
    )
    return [
        {
            "entity_uri": r[0],
            "oidc_sub": r[1],
            "fact_id": r[2],
            "source": r[3],
            "attested_key_id": r[4],
            "detail": orjson.loads(r[5]) if r[5] else None,
        }
        for r in found
    ]
