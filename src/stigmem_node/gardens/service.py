"""Garden operations and the garden access rules the fact routes use.

Who may do what (upstream's roles; the node ``admin`` permission may do everything):

* create a garden: ``write``; list every garden or get any one: ``write`` (upstream's "node
  admin"), otherwise only the caller's own gardens;
* read garden facts, list members: any role; write garden facts: ``admin`` or ``writer``;
* add/change/remove members, delete the garden: the garden ``admin`` role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from stigmem_node.auth.caller import Caller
from stigmem_node.clock import format_ts
from stigmem_node.db import Database
from stigmem_node.errors import Forbidden, NodeError, NotFound
from stigmem_node.facts.service import GardenRef
from stigmem_node.gardens import store
from stigmem_node.gardens.cache import MembershipCache
from stigmem_node.gardens.models import (
    SLUG_ERROR,
    SLUG_RE,
    WRITE_ROLES,
    Garden,
    GardenCreate,
    garden_ref,
)
from stigmem_node.gardens.store import GardenCtx

T = TypeVar("T")

GARDEN_NOT_FOUND = "garden not found"
NOT_A_MEMBER = "not a member of this garden"
READER_CANNOT_WRITE = "write permission required — you are a reader in this garden"
GARDEN_ADMIN_REQUIRED = "garden admin permission required"


def node_authority(node_url: str) -> str:
    """The authority of garden URIs: the host (and port) of the node's public URL."""
    parts = urlsplit(node_url)
    return (parts.netloc or parts.path).lower()


@dataclass(slots=True)
class GardenService:
    db: Database
    gc: GardenCtx
    cache_s: float = 2.0
    _cache: MembershipCache = field(init=False)

    def __post_init__(self) -> None:
        self._cache = MembershipCache(self.gc.ctx.clock, self.cache_s)

    # -- access rules (installed into the fact service) ----------------------------------
    async def readable(self, caller: Caller) -> frozenset[str] | None:
        """Ids of the gardens whose facts ``caller`` may read; None for every garden."""
        if caller.has("admin"):
            return None
        cached = self._cache.get(caller.entity_uri)
        if cached is not None:
            return cached
        generation = self._cache.generation
        ids = await self.db.read("garden_access", store.member_gardens_txn, caller.entity_uri)
        gardens = frozenset(ids)
        self._cache.put(caller.entity_uri, gardens, generation)
        return gardens

    async def for_write(self, caller: Caller, garden_uri: str, scope: str) -> GardenRef:
        """Assert pipeline step 4: 404 unknown, 422 scope mismatch, 403 without a write role."""
        garden, role = await self.find_with_role(caller, garden_uri)
        if garden.scope != scope:
            raise NodeError(
                f"scope mismatch: garden scope is '{garden.scope}' but fact scope is '{scope}'",
                status=422,
            )
        self.require_writer(caller, role)
        return GardenRef(garden.id, garden.quarantine)

    async def for_filter(self, caller: Caller, garden_uri: str) -> str:
        """A ``garden_id=`` query filter: 404 unknown, 403 unless the caller may read it."""
        garden, role = await self.find_with_role(caller, garden_uri)
        if role is None and not caller.has("admin"):
            raise Forbidden(NOT_A_MEMBER)
        return garden.id

    async def require_write(self, caller: Caller, garden_id: str) -> None:
        """403 unless ``caller`` holds a write role in the garden (or ``admin``)."""
        _, role = await self.find_with_role(caller, garden_id)
        self.require_writer(caller, role)

    @staticmethod
    def require_writer(caller: Caller, role: str | None) -> None:
        if role in WRITE_ROLES or caller.has("admin"):
            return
        # Upstream's texts: only a reader is told about its role.
        raise Forbidden(READER_CANNOT_WRITE if role == "reader" else NOT_A_MEMBER)

    # -- lookups -------------------------------------------------------------------------
    async def find_with_role(self, caller: Caller, text: str) -> tuple[Garden, str | None]:
        """The garden ``text`` (URI, slug or uuid) names and the caller's role; 404 if none."""
        ref = garden_ref(text)
        if ref is None:
            raise NotFound(GARDEN_NOT_FOUND)
        garden, role = await self.db.read(
            "find_garden", store.find_with_role_txn, caller.tenant_id, *ref, caller.entity_uri
        )
        if garden is None:
            raise NotFound(GARDEN_NOT_FOUND)
        return garden, role

    async def _administered(self, caller: Caller, text: str) -> Garden:
        garden, role = await self.find_with_role(caller, text)
        if role != "admin" and not caller.has("admin"):
            raise Forbidden(GARDEN_ADMIN_REQUIRED)
        return garden

    async def _changing_members(self, desc: str, fn: Callable[..., T], *args: Any) -> T:
        """Run a membership-changing write; the read ACL cache forgets everything after it."""
        try:
            return await self.db.write(desc, fn, self.gc, *args)
        finally:
            self.forget_memberships()

    def forget_memberships(self) -> None:
        """Drop cached memberships (after a change this process made, or made behind its back)."""
        self._cache.invalidate()

    # -- gardens -------------------------------------------------------------------------
    async def create(self, caller: Caller, body: GardenCreate) -> dict[str, Any]:
        caller.require("write")
        slug = body.slug.strip().lower()
        if not SLUG_RE.match(slug):
            raise NodeError(SLUG_ERROR, status=422)
        now = format_ts(self.gc.ctx.clock.now())
        garden = store.new_garden(
            slug, body.name, body.scope, body.description, body.quarantine,
            caller.entity_uri, now, caller.tenant_id,
        )  # fmt: skip
        return await self._changing_members("create_garden", store.create_garden_txn, garden)

    async def list_gardens(self, caller: Caller) -> list[dict[str, Any]]:
        caller.require("read")
        member = None if caller.has("write") else caller.entity_uri
        gardens = await self.db.read(
            "list_gardens", store.list_gardens_txn, caller.tenant_id, member
        )
        return [garden.record(self.gc.authority, []) for garden in gardens]

    async def get(self, caller: Caller, text: str) -> dict[str, Any]:
        caller.require("read")
        garden, role = await self.find_with_role(caller, text)
        if role is None and not caller.has("write"):
            raise Forbidden(NOT_A_MEMBER)
        members = await self.db.read("garden_members", store.members_txn, garden.id)
        return garden.record(self.gc.authority, members)

    async def delete(self, caller: Caller, text: str) -> None:
        garden = await self._administered(caller, text)
        await self._changing_members(
            "delete_garden", store.delete_garden_txn, garden, caller.entity_uri
        )

    # -- members -------------------------------------------------------------------------
    async def members(self, caller: Caller, text: str) -> list[dict[str, Any]]:
        garden, role = await self.find_with_role(caller, text)
        if role is None and not caller.has("admin"):
            raise Forbidden(NOT_A_MEMBER)
        return await self.db.read("garden_members", store.members_txn, garden.id)

    async def add_member(
        self, caller: Caller, text: str, entity_uri: str, role: str
    ) -> dict[str, Any]:
        garden = await self._administered(caller, text)
        return await self._changing_members(
            "add_garden_member", store.add_member_txn, garden, entity_uri, role, caller.entity_uri
        )

    async def set_role(
        self, caller: Caller, text: str, entity_uri: str, role: str
    ) -> dict[str, Any]:
        garden = await self._administered(caller, text)
        return await self._changing_members(
            "set_garden_role", store.set_role_txn, garden, entity_uri, role, caller.entity_uri
        )

    async def remove_member(self, caller: Caller, text: str, entity_uri: str) -> None:
        garden = await self._administered(caller, text)
        await self._changing_members(
            "remove_garden_member", store.remove_member_txn, garden, entity_uri, caller.entity_uri
        )
