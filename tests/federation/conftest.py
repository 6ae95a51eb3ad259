"""Fixtures of the federation tests: a federated in-process node and a fake peer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.federation.declarations import format_signed_at, sign_declaration
from stigmem_node.federation.tokens import mint_peer_token
from tests.conftest import NodeHarness, start_node
from tests.federation.fakepeer import FakePeer
from tests.process import node_factory

__all__ = ["node_factory"]  # the real-process fixture, for the cluster tests


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    """A node with federation and push enabled (no pull loops run: no peer is active yet)."""
    async for h in start_node(
        tmp_path,
        federation_enabled=True,
        federation_insecure=True,
        federation_push_enabled=True,
        federation_pull_interval_s=3600,
    ):
        yield h


@pytest.fixture
def fake() -> Iterator[FakePeer]:
    with FakePeer().serving() as peer:
        yield peer


def declaration_body(
    peer: FakePeer, scopes: list[str] | None = None, **overrides: Any
) -> dict[str, Any]:
    declaration = sign_declaration(
        peer.keys,
        node_id=peer.node_id,
        node_url=peer.url,
        allowed_scopes=scopes or ["company", "public"],
        signed_at=format_signed_at(datetime.now(UTC)),
    )
    body = declaration.to_body()
    body.update(overrides)
    return body


async def register(
    client: httpx.AsyncClient,
    peer: FakePeer,
    scopes: list[str] | None = None,
    *,
    approve: bool = True,
) -> str:
    response = await client.post("/v1/federation/peers", json=declaration_body(peer, scopes))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending_approval", response.text
    peer_id = str(response.json()["peer_id"])
    if approve:
        approved = await client.post(
            f"/v1/federation/peers/{peer_id}/approve",
            json={"pubkey_fingerprint": peer.keys.fingerprint},
        )
        assert approved.status_code == 200, approved.text
    return peer_id


def peer_token(peer: FakePeer, node_id: str, scopes: list[str] | None = None, **kwargs: Any) -> str:
    now_ms = kwargs.pop("now_ms", int(datetime.now(UTC).timestamp() * 1000))
    return mint_peer_token(
        peer.keys,
        iss=peer.node_id,
        sub=node_id,
        scopes=scopes or ["company", "public"],
        now_ms=now_ms,
        **kwargs,
    )
