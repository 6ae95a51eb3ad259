"""Listing and resolving conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stigmem_node.auth.caller import Caller
from stigmem_node.conflicts import store
from stigmem_node.db import Database
from stigmem_node.errors import NodeError
from stigmem_node.facts.models import FactValue
from stigmem_node.facts.query import decode_cursor, encode_cursor
from stigmem_node.facts.service import FactService
from stigmem_node.facts.store import WriteContext
from stigmem_node.facts.values import encode_v


@dataclass(slots=True)
class ConflictService:
    db: Database
    ctx: WriteContext
    facts: FactService

    async def list(
        self, caller: Caller, status: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        caller.require("read")
        after = decode_cursor(cursor) if cursor else None
        view = await self.facts.view_for(caller)
        items, last = await self.db.read(
            "list_conflicts", store.list_conflicts_txn, view, status, after, limit
        )
        for item in items:
            item.pop("_seq")
        return {
            "conflicts": items,
            "cursor": encode_cursor(last) if last is not None else None,
            "has_more": last is not None,
        }

    async def resolve(
        self,
        caller: Caller,
        conflict_id: str,
        winning_fact_id: str | None,
        new_value: FactValue | None,
    ) -> dict[str, Any]:
        caller.require("write")
        if winning_fact_id is None and new_value is None:
            raise NodeError("provide winning_fact_id or new_value", status=422)
        encoded = None
        if new_value is not None and winning_fact_id is None:
            encoded = (
                new_value.type,
                encode_v(new_value.type, new_value.v),
                new_value.interpret_as,
            )
        garden_id = await self.db.read("conflict_garden", store.conflict_garden_txn, conflict_id)
        if garden_id is not None:
            # Resolving writes garden-tagged facts: a garden reader may not (CONTRACT §5).
            view = await self.facts.view_for(caller)
            if view.can_see_garden(garden_id):
                await self.facts.garden_gate.require_write(caller, garden_id)
        resolution_id = await self.db.write(
            "resolve_conflict",
            store.resolve_txn,
            self.ctx,
            await self.facts.view_for(caller),
            conflict_id,
            caller.entity_uri,
            winning_fact_id,
            encoded,
        )
        return {"resolution_fact_id": resolution_id, "conflict_status": "resolved"}
