"""Reading the audit log, retention, and the coalesced security-event sink.

Who may read what: ``GET /v1/audit*`` (``read``) shows fact events only, through the caller's
garden ACL; ``GET /v1/admin/audit`` (``audit.read``) shows every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from stigmem_node.audit import retention, store
from stigmem_node.audit.security import SecurityAudit
from stigmem_node.audit.store import AdminEventFilter, FactEventFilter
from stigmem_node.auth.caller import Caller
from stigmem_node.clock import Clock, format_ts
from stigmem_node.db import Database
from stigmem_node.errors import BadRequest, Forbidden, NotFound
from stigmem_node.facts.visibility import ReadView

log = logging.getLogger("stigmem.audit")

_CURSOR = re.compile(r"^([^|]{1,64})\|([0-9a-f-]{36})$")
PRUNE_CHUNK = 5000
EXPORT_PAGE = 1000


class AuditService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        view_for: Callable[[Caller], Awaitable[ReadView]],
        *,
        retention_days: int,
        coalesce_window_s: float,
    ) -> None:
        self._db = db
        self._clock = clock
        self._view_for = view_for
        self.retention_days = retention_days
        self.security = SecurityAudit(db, clock, window_s=coalesce_window_s)
        self._flush_every_s = coalesce_window_s
        self._task: asyncio.Task[None] | None = None
        # Several processes on one database: only the holder of this gate prunes.
        self.prune_gate: Callable[[], Awaitable[bool]] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        """At start-up, with the database open (synchronous)."""
        if self._db.write_sync(retention.close_stale_window_txn):
            log.warning("an audit prune window was found open and has been closed")

    async def start(self) -> None:
        """Start the maintenance loop (a ``node.Background`` service)."""
        self._task = asyncio.create_task(self.maintain(), name="audit-maintenance")

    async def stop(self) -> None:
        """Stop the loop and write every pending security event, summaries included."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.security.flush(close_all=True)

    def close(self) -> None:
        """Last synchronous flush, just before the database closes."""
        self.security.close()

    async def maintain(self) -> None:
        """Background loop: close due coalescing windows; prune past retention hourly."""
        next_prune = 0.0
        while True:
            try:
                await self.security.flush()
                if self.retention_days > 0 and self._clock.monotonic() >= next_prune:
                    if self.prune_gate is None or await self.prune_gate():
                        await self.prune()
                    next_prune = self._clock.monotonic() + 3600.0
            except Exception:  # keep the loop alive; the next round retries
                log.exception("audit maintenance failed")
            await asyncio.sleep(min(self._flush_every_s, 60.0))

    async def prune(self) -> int:
        """Delete events older than the retention horizon; return how many (0 if disabled)."""
        if self.retention_days <= 0:
            return 0
        moment = self._clock.now()
        horizon = retention.horizon_for(moment, self.retention_days)
        total = 0
        while True:
            deleted = await self._db.write(
                "audit_prune", retention.prune_chunk_txn, horizon, format_ts(moment), PRUNE_CHUNK
            )
            total += deleted
            if deleted == 0:
                return total

    # -- reads ---------------------------------------------------------------------------
    async def fact_events(
        self, caller: Caller, flt: FactEventFilter, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        caller.require("read")
        await self.security.flush()
        view = await self._view_for(caller)
        before = await self._decode_cursor(cursor) if cursor else None
        entries, total, more = await self._db.read(
            "audit_fact_events", store.list_fact_events_txn, view, flt, before, limit
        )
        next_cursor = f"{entries[-1]['ts']}|{entries[-1]['id']}" if more and entries else None
        return {"entries": entries, "total": total, "cursor": next_cursor}

    async def fact_trail(self, caller: Caller, fact_id: str) -> list[dict[str, Any]]:
        caller.require("read")
        view = await self._view_for(caller)
        entries, garden_id, exists = await self._db.read(
            "audit_fact_trail", store.fact_trail_txn, view, fact_id
        )
        if exists and not view.can_see_garden(garden_id):
            raise Forbidden("not a member of this garden")
        if not entries and not exists:
            raise NotFound("fact not found")
        return entries

    async def export(
        self, caller: Caller, flt: FactEventFilter, limit: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Rows for the CSV export, newest first, read page by page (bounded memory)."""
        caller.require("read")
        view = await self._view_for(caller)
        return self._export_rows(view, flt, limit)

    async def _export_rows(
        self, view: ReadView, flt: FactEventFilter, limit: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        before: int | None = None
        remaining = limit
        while remaining > 0:
            page = min(EXPORT_PAGE, remaining)
            rows, before = await self._db.read(
                "audit_export", store.export_page_txn, view, flt, before, page
            )
            for row in rows:
                yield row
            remaining -= len(rows)
            if before is None:
                return

    async def admin_events(
        self, caller: Caller, flt: AdminEventFilter, cursor: int | None, limit: int
    ) -> dict[str, Any]:
        caller.require("audit.read")
        await self.security.flush()
        entries, total, next_cursor = await self._db.read(
            "audit_admin_events", store.list_admin_events_txn, flt, cursor, limit
        )
        return {"entries": entries, "total": total, "next_cursor": next_cursor}

    async def _decode_cursor(self, cursor: str) -> int:
        match = _CURSOR.match(cursor)
        if match is None:
            raise BadRequest(
                {"code": "invalid_cursor", "message": "cursor is not one this node issued"}
            )
        seq = await self._db.read("audit_cursor", store.seq_of_event_txn, match[2])
        return seq if seq is not None else 0  # the event was pruned: nothing older remains
