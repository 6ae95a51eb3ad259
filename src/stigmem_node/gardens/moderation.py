"""Quarantine moderation: list holds, promote (admit) or reject them.

Who may decide: the quarantine garden's ``admin`` or ``quarantine:moderator``, or a node admin
(the ``admin`` permission). Upstream lets any ``write`` holder decide through
``/v1/quarantine``; we still require ``write`` there but also the moderating role, or a held
fact's own writer could admit it. Promoting into a target garden also needs the right to
write into that garden, and the fact's scope must be the target's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stigmem_node.auth.caller import Caller
from stigmem_node.errors import Conflict, Forbidden, NodeError, NotFound
from stigmem_node.gardens import holds, store
from stigmem_node.gardens.holds import NOT_PENDING, Hold
from stigmem_node.gardens.models import MODERATOR_ROLES, Garden
from stigmem_node.gardens.service import GardenService

MODERATOR_REQUIRED = "quarantine:moderator or admin role required to promote/reject facts"
NOT_QUARANTINE = "this endpoint is only valid for quarantine gardens"
NOT_IN_GARDEN = "fact not found in quarantine garden"
NOT_HELD = "quarantined fact not found"
TARGET_NOT_FOUND = "target garden not found"
TARGET_IS_QUARANTINE = "target garden must not be a quarantine garden"


@dataclass(slots=True)
class ModerationService:
    gardens: GardenService

    # -- POST /v1/gardens/{g}/promote | reject -------------------------------------------
    async def promote(
        self, caller: Caller, text: str, fact_id: str, target: str | None, reason: str
    ) -> dict[str, Any]:
        garden = await self._moderated(caller, text)
        hold = await self._pending(fact_id, NOT_IN_GARDEN, garden.id)
        target_id = await self._target(caller, target, hold)
        return await self._write(
            "quarantine_promote", holds.promote_txn,
            fact_id, target_id, caller.entity_uri, reason or "promoted", "promoted",
        )  # fmt: skip

    async def reject(self, caller: Caller, text: str, fact_id: str, reason: str) -> dict[str, Any]:
        garden = await self._moderated(caller, text)
        await self._pending(fact_id, NOT_IN_GARDEN, garden.id)
        return await self._write(
            "quarantine_reject", holds.reject_txn, fact_id, caller.entity_uri, reason or "rejected"
        )

    # -- /v1/quarantine ------------------------------------------------------------------
    async def admit(
        self, caller: Caller, fact_id: str, target: str | None, reason: str
    ) -> dict[str, Any]:
        caller.require("write")
        hold = await self._pending(fact_id, NOT_HELD)
        await self._require_moderator(caller, hold.garden_id)
        target_id = await self._target(caller, target, hold)
        return await self._write(
            "quarantine_admit", holds.promote_txn,
            fact_id, target_id, caller.entity_uri, reason or "admitted via admin API", "admitted",
        )  # fmt: skip

    async def reject_held(self, caller: Caller, fact_id: str, reason: str) -> dict[str, Any]:
        caller.require("write")
        hold = await self._pending(fact_id, NOT_HELD)
        await self._require_moderator(caller, hold.garden_id)
        return await self._write(
            "quarantine_reject", holds.reject_txn,
            fact_id, caller.entity_uri, reason or "rejected via admin API",
        )  # fmt: skip

    async def list_holds(
        self, caller: Caller, garden_text: str | None, status: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
        """Holds of the quarantine gardens the caller belongs to (node admins: all)."""
        caller.require("read")
        gardens = await self.gardens.readable(caller)
        if garden_text is not None:
            garden, role = await self.gardens.find_with_role(caller, garden_text)
            if role is None and not caller.has("admin"):
                raise Forbidden("not a member of this garden")
            gardens = frozenset({garden.id})
        db = self.gardens.db
        items, total = await db.read(
            "list_holds", holds.list_holds_txn, gardens, status, limit, offset
        )
        return {"items": items, "total": total}

    # -- helpers -------------------------------------------------------------------------
    async def _moderated(self, caller: Caller, text: str) -> Garden:
        garden, role = await self.gardens.find_with_role(caller, text)
        if not garden.quarantine:
            raise NodeError(NOT_QUARANTINE, status=422)
        if role not in MODERATOR_ROLES and not caller.has("admin"):
            raise Forbidden(MODERATOR_REQUIRED)
        return garden

    async def _require_moderator(self, caller: Caller, garden_id: str) -> None:
        if caller.has("admin"):
            return
        role = await self.gardens.db.read(
            "garden_role", store.role_txn, garden_id, caller.entity_uri
        )
        if role not in MODERATOR_ROLES:
            raise Forbidden(MODERATOR_REQUIRED)

    async def _pending(self, fact_id: str, missing: str, garden_id: str | None = None) -> Hold:
        hold = await self.gardens.db.read("get_hold", holds.get_hold_txn, fact_id)
        if hold is None or (garden_id is not None and hold.garden_id != garden_id):
            raise NotFound(missing)
        if hold.status != "pending":
            raise Conflict(NOT_PENDING)
        return hold

    async def _target(self, caller: Caller, text: str | None, hold: Hold) -> str | None:
        """The garden a promoted fact goes to (None: no garden), checked for the caller."""
        if text is None or not text.strip():
            return None
        try:
            target, role = await self.gardens.find_with_role(caller, text)
        except NotFound:
            raise NotFound(TARGET_NOT_FOUND) from None
        if target.quarantine:
            raise NodeError(TARGET_IS_QUARANTINE, status=422)
        if target.scope != hold.scope:
            raise NodeError(
                f"scope mismatch: garden scope is '{target.scope}'"
                f" but fact scope is '{hold.scope}'",
                status=422,
            )
        self.gardens.require_writer(caller, role)
        return target.id

    async def _write(self, desc: str, fn: Any, *args: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.gardens.db.write(desc, fn, self.gardens.gc, *args)
        return result
