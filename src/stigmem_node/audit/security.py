"""Security events that change nothing: failed authentication, refused attestations, failed
OIDC exchanges, rate-limit breaches.

These are caused by requests that write nothing, so an attacker could turn every refused
request into an audit row (a write flood). Events are therefore **coalesced**: per key (event
type plus who/why, e.g. client address and reason) the first event of a window is written at
once; later ones in the same window only bump an in-memory counter, written as one summary row
(``detail.occurrences = n``, ``detail.coalesced = true``) when the window closes. Summing
``occurrences`` over rows gives the exact number of events. At most ``max_keys`` windows are
open; beyond that, events fold into one overflow window per event type, so memory and rows per
window stay bounded whatever the attacker sends.

``record`` never waits for the database: rows are handed to one drain task. ``flush`` writes
everything pending (audit reads call it first, so readers see current counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from stigmem_node.audit.log import INSERT_SQL, event_row
from stigmem_node.clock import Clock, format_ts
from stigmem_node.db import Cursor, Database

log = logging.getLogger("stigmem.audit")

OVERFLOW = "*"


@dataclass(slots=True)
class _Window:
    opened: float
    first_ts: str
    event_type: str
    entity_uri: str | None
    oidc_sub: str | None
    detail: dict[str, Any]
    suppressed: int = 0


class SecurityAudit:
    def __init__(
        self, db: Database, clock: Clock, *, window_s: float, max_keys: int = 1024
    ) -> None:
        self._db = db
        self._clock = clock
        self._window_s = window_s
        self._max_keys = max_keys
        self._windows: dict[tuple[str, ...], _Window] = {}
        self._pending: list[tuple[Any, ...]] = []
        self._drain: asyncio.Task[None] | None = None
        self._next_sweep = float("inf")

    def record(
        self,
        event_type: str,
        key: tuple[str, ...],
        *,
        entity_uri: str | None = None,
        oidc_sub: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Note one event; O(1), no I/O on the caller's path."""
        now = self._clock.monotonic()
        if now >= self._next_sweep:
            self._close_windows(now)
        full_key = (event_type, *key)
        window = self._windows.get(full_key)
        if window is None and len(self._windows) >= self._max_keys:
            full_key = (event_type, OVERFLOW)
            window = self._windows.get(full_key)
            if window is None:
                entity_uri, oidc_sub, detail = None, None, {"reason": "too many distinct sources"}
        if window is not None:
            window.suppressed += 1
            return
        ts = format_ts(self._clock.now())
        body = {**(detail or {}), "occurrences": 1}
        self._windows[full_key] = _Window(now, ts, event_type, entity_uri, oidc_sub, body)
        self._next_sweep = min(self._next_sweep, now + self._window_s)
        self._queue(
            event_row(ts, event_type, entity_uri=entity_uri, oidc_sub=oidc_sub, detail=body)
        )

    async def flush(self, *, close_all: bool = False) -> None:
        """Write every pending row (and close windows that are due, or all of them)."""
        self._close_windows(self._clock.monotonic(), close_all=close_all)
        while self._drain is not None and not self._drain.done():
            await asyncio.shield(self._drain)
        if self._pending:
            rows, self._pending = self._pending, []
            await self._db.write("security_audit", _insert_rows_txn, rows)

    def close(self) -> None:
        """Synchronous final flush at shutdown (the event loop may already be gone)."""
        self._close_windows(self._clock.monotonic(), close_all=True)
        if self._pending:
            rows, self._pending = self._pending, []
            with contextlib.suppress(Exception):
                self._db.write_sync(_insert_rows_txn, rows)

    # -- internals -----------------------------------------------------------------------
    def _close_windows(self, now: float, *, close_all: bool = False) -> None:
        due = [k for k, w in self._windows.items() if close_all or w.opened + self._window_s <= now]
        for key in due:
            window = self._windows.pop(key)
            if window.suppressed:
                detail = {
                    **window.detail,
                    "occurrences": window.suppressed,
                    "coalesced": True,
                    "since": window.first_ts,
                }
                self._pending.append(
                    event_row(
                        format_ts(self._clock.now()),
                        window.event_type,
                        entity_uri=window.entity_uri,
                        oidc_sub=window.oidc_sub,
                        detail=detail,
                    )
                )
        oldest = min((w.opened for w in self._windows.values()), default=None)
        self._next_sweep = oldest + self._window_s if oldest is not None else float("inf")
        if self._pending:
            self._start_drain()

    def _queue(self, row: tuple[Any, ...]) -> None:
        self._pending.append(row)
        self._start_drain()

    def _start_drain(self) -> None:
        if self._drain is not None and not self._drain.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # synchronous caller: ``close`` or ``flush`` writes the rows
            return
        self._drain = loop.create_task(self._drain_pending())

    async def _drain_pending(self) -> None:
        while self._pending:
            rows, self._pending = self._pending, []
            try:
                await self._db.write("security_audit", _insert_rows_txn, rows)
            except Exception:  # the database is closing or broken: the event is logged instead
                log.exception("could not write %d security audit event(s)", len(rows))
                return


def _insert_rows_txn(cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
    cur.executemany(INSERT_SQL, rows)
