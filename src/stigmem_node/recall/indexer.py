"""The SQLite full-text index, caught up after the fact instead of on every assert.

An assert no longer indexes its fact (an FTS5 trigger cost 60-100 µs of writer CPU per fact
and flushed a new index segment on every commit); ``db.fulltext.Fts5.catch_up`` indexes the
facts committed since the watermark, ``chunk`` at a time, each chunk one write of the group
commit (so ordinary writes interleave, and several processes sharing the file take turns).
Measured in-process (``docs/performance.md``): ≈ 5 µs of CPU per fact in chunks of 1 000
(≈ 5 ms of writer time per chunk), ≈ 6.5 µs in chunks of 256, ≈ 22 µs in chunks of 16.

* In the background, every ``POLL_S``, the indexer catches up once ``chunk`` facts are
  pending or the oldest pending one has waited ``delay_s``.
* Recall never misses a committed fact: a search that finds a backlog in its snapshot calls
  ``drain``, which indexes everything committed before the call, and searches again.
* A node stopped with a backlog leaves it in the database: the next start (or recall)
  catches up. On PostgreSQL the index is a generated column: there is never a backlog and
  the indexer does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from stigmem_node.db import Cursor, Database

log = logging.getLogger("stigmem.recall")

Sleep = Callable[[float], Awaitable[Any]]
POLL_S = 0.25  # how often the background looks at the backlog (one indexed read)


def backlog_txn(cur: Cursor) -> int:
    return cur.dialect.fulltext.backlog(cur)


def catch_up_txn(cur: Cursor, limit: int) -> int:
    return cur.dialect.fulltext.catch_up(cur, limit)


class FullTextIndexer:
    """Keeps the full-text index caught up; ``drain`` for a search that must see it all."""

    def __init__(
        self, db: Database, *, chunk: int, delay_s: float, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.db = db
        self.chunk = chunk
        self.delay_s = delay_s
        self.sleep = sleep  # tests pass one driven by events, never real time
        self.writes = 0  # catch-up writes of this process (each at most ``chunk`` facts)
        self._lock = asyncio.Lock()
        self._asked = 0  # drains asked for
        self._served = 0  # every drain up to this one is done
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        """False on PostgreSQL (nothing to catch up)."""
        return not self.db.dialect.is_postgres

    async def start(self) -> None:
        if self.active and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="fulltext-indexer")

    async def stop(self) -> None:
        """Stop the background; a backlog stays for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> None:
        """Index every fact committed before this call. Concurrent callers share the work: a
        catch-up that began after a caller asked serves it too."""
        if not self.active:
            return
        self._asked += 1
        ticket = self._asked
        async with self._lock:
            if self._served >= ticket:
                return
            covers = self._asked  # every caller that asked before this catch-up begins
            left = 1
            while left:
                left = await self.db.write(
                    "fulltext_catch_up", catch_up_txn, self.chunk, replayable=True
                )
                self.writes += 1
            self._served = covers

    async def _loop(self) -> None:
        waited = self.delay_s  # a backlog left by the last run is indexed at once
        while True:
            waited = await self.poll(waited)
            await self.sleep(POLL_S)

    async def poll(self, waited: float) -> float:
        """One look at the backlog, which has waited ``waited`` seconds: catch up if it is a
        chunk or has waited ``delay_s``. Returns how long it has waited at the next poll
        (0: nothing pending). Errors are logged (the next poll tries again)."""
        try:
            pending = await self.db.read("fulltext_backlog", backlog_txn)
            if pending >= self.chunk or (pending > 0 and waited >= self.delay_s):
                await self.drain()
                return 0.0
        except Exception:
            log.exception("full-text catch-up failed; tried again at the next poll")
            return waited + POLL_S
        return waited + POLL_S if pending > 0 else 0.0
