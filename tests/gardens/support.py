"""A cast of principals around one garden: keys minted through the API, one client each."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import NodeHarness, fact_body

GARDEN = "atlas"
GARDEN_URI = "stigmem://elsewhere.example/garden/atlas"  # the authority is ignored
SECRET = "the-secret-roadmap-value"
SECRET_ENTITY = "stigmem://testnode/project/hidden-atlas"

# principal name -> (entity_uri, node permissions, garden role or None)
PRINCIPALS: dict[str, tuple[str, list[str], str | None]] = {
    "owner": ("user:owner", ["read", "write"], "admin"),
    "writer": ("user:writer", ["read", "write"], "writer"),
    "reader": ("user:reader", ["read", "write"], "reader"),
    "moderator": ("user:moderator", ["read", "write"], "quarantine:moderator"),
    "outsider": ("user:outsider", ["read", "write"], None),
    "lurker": ("user:lurker", ["read"], None),
}


async def mint(admin: httpx.AsyncClient, entity_uri: str, permissions: list[str]) -> str:
    created = await admin.post(
        "/v1/auth/keys", json={"entity_uri": entity_uri, "permissions": permissions}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["raw_key"])


@dataclass
class Cast:
    harness: NodeHarness
    admin: httpx.AsyncClient
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    garden: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> httpx.AsyncClient:
        return self.admin if name == "node_admin" else self.clients[name]

    async def garden_fact(self, **overrides: Any) -> dict[str, Any]:
        """A fact in the cast's garden, written by its garden admin."""
        body = fact_body(
            entity=SECRET_ENTITY,
            relation="roadmap:status",
            value={"type": "string", "v": SECRET},
            scope="team",
            garden_id=GARDEN_URI,
        )
        body.update(overrides)
        created = await self.clients["owner"].post("/v1/facts", json=body)
        assert created.status_code == 201, created.text
        return dict(created.json())


@contextlib.asynccontextmanager
async def cast_of(harness: NodeHarness, *, quarantine: bool = False) -> AsyncIterator[Cast]:
    """Every principal of ``PRINCIPALS`` with a key; the owner creates garden ``atlas``."""
    async with contextlib.AsyncExitStack() as stack:
        admin = await stack.enter_async_context(harness.client())
        cast = Cast(harness, admin)
        for name, (uri, permissions, _) in PRINCIPALS.items():
            key = await mint(admin, uri, permissions)
            cast.clients[name] = await stack.enter_async_context(harness.client(key))
        created = await cast.clients["owner"].post(
            "/v1/gardens",
            json={"slug": GARDEN, "name": "Atlas", "scope": "team", "quarantine": quarantine},
        )
        assert created.status_code == 201, created.text
        cast.garden = created.json()
        for name, (uri, _, role) in PRINCIPALS.items():
            if role is not None and name != "owner":
                added = await cast.clients["owner"].post(
                    f"/v1/gardens/{GARDEN}/members", json={"entity_uri": uri, "role": role}
                )
                assert added.status_code == 201, added.text
        yield cast
