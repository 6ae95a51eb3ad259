"""Periodic decay sweeps (``STIGMEM_DECAY_SWEEP_INTERVAL_S``; 0, the default, = off).

A background task of the node: started and stopped with it. Each sweep uses the configured
defaults (``STIGMEM_DECAY_TTL_SECONDS``, ``STIGMEM_DECAY_MIN_CONFIDENCE``); a failing sweep is
logged and the next one runs on schedule. When several processes share the database, only
the one holding the ``decay-sweep`` lease sweeps (``gate``); the others skip their rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("stigmem.decay")

Sleep = Callable[[float], Awaitable[Any]]
Gate = Callable[[], Awaitable[bool]]


class Sweeper(Protocol):
    async def sweep_as_node(self) -> dict[str, Any]: ...


class DecayScheduler:
    def __init__(
        self,
        decay: Sweeper,
        interval_s: float,
        *,
        sleep: Sleep = asyncio.sleep,
        gate: Gate | None = None,
    ) -> None:
        self.decay = decay
        self.interval_s = interval_s
        self.sleep = sleep  # tests pass one driven by events, never real time
        self.gate = gate  # False: another process runs the sweeps
        self.sweeps = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="decay-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await self.sleep(self.interval_s)
            await self.sweep_once()

    async def sweep_once(self) -> dict[str, Any] | None:
        """One scheduled sweep (None when skipped); errors are logged, never raised (the
        schedule goes on)."""
        try:
            if self.gate is not None and not await self.gate():
                return None
            result = await self.decay.sweep_as_node()
        except Exception:
            log.exception("periodic decay sweep failed")
            return None
        self.sweeps += 1
        if result["decayed"]:
            log.info("periodic decay sweep: %(scanned)d scanned, %(decayed)d decayed", result)
        return result
