"""``Leases``: this process's presence and the shared duties it holds (a node.Background)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from stigmem_node.clock import Clock, format_ts
from stigmem_node.cluster import store
from stigmem_node.db import Database

log = logging.getLogger("stigmem.cluster")

Tick = Callable[[], Awaitable[object]]
Pause = Callable[[float], Awaitable[bool]]


class Leases:
    """Leases held by this process (one ``instance`` id per process start).

    ``ttl_s`` is how long a lease outlives its holder; the presence loop renews what this
    process holds every ``ttl_s / 3`` seconds (real time, like every loop of the node), and
    runs each ``on_tick`` callback (e.g. failing jobs whose process is gone).
    """

    def __init__(self, db: Database, clock: Clock, *, ttl_s: float = 30.0) -> None:
        self._db = db
        self._clock = clock
        self.ttl_s = ttl_s
        self.instance = uuid.uuid4().hex
        self._held: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.on_tick: list[Tick] = []

    @property
    def instance_lease(self) -> str:
        return f"{store.INSTANCE_PREFIX}{self.instance}"

    def _until(self) -> tuple[str, str]:
        now = self._clock.now()
        return format_ts(now), format_ts(now + timedelta(seconds=self.ttl_s))

    # -- duties --------------------------------------------------------------------------
    async def hold(self, name: str) -> bool:
        """Take (or keep) the lease ``name``; True while this process holds it. The presence
        loop keeps it until ``release`` or the end of the process."""
        now, until = self._until()
        held = await self._db.write("lease_hold", store.hold_txn, name, self.instance, now, until)
        if held:
            self._held.add(name)
        else:
            self._held.discard(name)
        return held

    async def release(self, name: str) -> None:
        """Give the lease up (another process may take it at once)."""
        if name in self._held:
            self._held.discard(name)
            await self._db.write("lease_release", store.release_txn, [name], self.instance)

    def holds(self, name: str) -> bool:
        """Whether this process held ``name`` at its last renewal."""
        return name in self._held

    async def holder(self, name: str) -> str | None:
        """The instance holding ``name`` now, if any."""
        return await self._db.read("lease_holder", store.holder_txn, name, self._until()[0])

    async def exclusive(self, name: str, run: Callable[[], Awaitable[None]], pause: Pause) -> None:
        """Run the loop ``run()`` only while this process holds ``name``.

        Until the lease is ours, try again every ``ttl_s / 3`` (``pause`` returns False when
        the node is stopping). A loop whose lease was taken over (this process stalled past
        the lease's life) is cancelled, and waits its turn again. Returns when ``run()``
        returns (its work is over) or the node stops.
        """
        while True:
            if await self.hold(name):
                loop = asyncio.ensure_future(run())
                try:
                    while not loop.done() and self.holds(name):
                        await asyncio.wait({loop}, timeout=self.ttl_s / 3)
                    if loop.done():
                        loop.result()  # its exception, if any, is the caller's
                        return
                    log.warning("%s: lease taken over by another process; stopping here", name)
                finally:
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop
                    await self.release(name)
            if not await pause(self.ttl_s / 3):
                return

    # -- presence ------------------------------------------------------------------------
    def open(self) -> None:
        """At start-up (synchronous): announce this process before anything else runs."""
        now, until = self._until()
        self._db.write_sync(store.hold_txn, self.instance_lease, self.instance, now, until)
        self._held.add(self.instance_lease)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cluster-presence")

    async def stop(self) -> None:
        """Stop renewing and release every lease (other processes take over at once)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        held, self._held = sorted(self._held), set()
        if held:
            with contextlib.suppress(Exception):  # the database may already be unreachable
                await self._db.write("lease_release", store.release_txn, held, self.instance)

    def close(self) -> None:
        """At shutdown (synchronous): release what ``stop`` did not (a node that never ran
        its background services, e.g. under the CLI)."""
        held, self._held = sorted(self._held), set()
        if held:
            with contextlib.suppress(Exception):
                self._db.write_sync(store.release_txn, held, self.instance)

    async def renew(self) -> None:
        """Extend every lease held, then run the ``on_tick`` callbacks."""
        if self._held:
            _, until = self._until()
            lost = await self._db.write(
                "lease_renew", store.renew_txn, sorted(self._held), self.instance, until
            )
            for name in lost:
                log.warning("lease %s was taken over by another process", name)
                self._held.discard(name)
            if self.instance_lease in lost:  # presumed dead by the others: announce again
                await self.hold(self.instance_lease)
        for tick in self.on_tick:
            await tick()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.renew()
            except Exception:  # keep the presence alive; the next round retries
                log.exception("renewing leases failed")
