"""Decay sweeps: old facts expire (TTL), weak facts are retracted (confidence floor).

A sweep walks the facts that existed when it started in bounded ``seq`` windows, one write
transaction per window, so ordinary writes interleave with a long sweep. Above
``async_job_threshold`` facts in the target scope a sweep runs as a job (202).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from stigmem_node.auth.caller import Caller
from stigmem_node.clock import Clock, format_ts
from stigmem_node.db import Database
from stigmem_node.decay import store
from stigmem_node.decay.store import DECAY_ACTOR, SweepRule
from stigmem_node.facts.service import FactService
from stigmem_node.facts.visibility import ReadView
from stigmem_node.jobs.service import JobContext, JobService

log = logging.getLogger("stigmem.decay")

CHUNK_ROWS = 2000
_EPOCH_FLOOR = "0000"  # sorts before every stored timestamp


@dataclass(frozen=True, slots=True)
class DecayDefaults:
    ttl_seconds: int = 0  # 0 = off
    min_confidence: float = 0.0  # 0 = off
    async_job_threshold: int = 100_000


@dataclass(slots=True)
class DecayService:
    db: Database
    clock: Clock
    facts: FactService
    jobs: JobService
    defaults: DecayDefaults
    chunk_rows: int = CHUNK_ROWS

    def rule(
        self, scope: str | None, ttl_seconds: int | None, min_confidence: float | None
    ) -> SweepRule | None:
        """The effective rule (wire §6), or None when neither TTL nor floor is in force.

        TTL: ``ttl_seconds`` if given (0 = every fact without an expiry), else the default if
        above 0. Floor: ``min_confidence`` if given and above 0, else the default if above 0.
        """
        moment = self.clock.now()
        ttl = ttl_seconds if ttl_seconds is not None else (self.defaults.ttl_seconds or None)
        floor = min_confidence or self.defaults.min_confidence or None
        if ttl is None and floor is None:
            return None
        cutoff = None
        if ttl is not None:
            try:
                cutoff = format_ts(moment - timedelta(seconds=ttl))
            except (OverflowError, ValueError):  # older than the calendar: nothing qualifies
                cutoff = _EPOCH_FLOOR
        return SweepRule(now=format_ts(moment), ttl_cutoff=cutoff, floor=floor, scope=scope)

    async def sweep(
        self,
        caller: Caller,
        scope: str | None,
        ttl_seconds: int | None,
        min_confidence: float | None,
        dry_run: bool,
    ) -> tuple[int, dict[str, Any]]:
        """``POST /v1/decay/sweep``: ``(200, result)`` or ``(202, job)``.

        Only facts the caller can read are decayed (a garden's facts need its membership).
        """
        caller.require("write")
        rule = self.rule(scope, ttl_seconds, min_confidence)
        if rule is None:
            return 200, {"scanned": 0, "decayed": 0, "dry_run": dry_run}
        view = await self.facts.view_for(caller)
        if not dry_run:
            total = await self.db.read("count_facts", store.count_facts_txn, scope)
            if total > self.defaults.async_job_threshold:
                return 202, await self._submit(caller, rule, view, total)
        return 200, await self.run(rule, view, caller.entity_uri, dry_run=dry_run)

    async def _submit(
        self, caller: Caller, rule: SweepRule, view: ReadView, total: int
    ) -> dict[str, Any]:
        async def work(ctx: JobContext) -> dict[str, Any]:
            return await self.run(rule, view, caller.entity_uri, dry_run=False, job=ctx)

        estimated_s = max(60, total // 1000)
        return await self.jobs.submit(
            caller, "decay", rule.scope, rule.describe(), estimated_s, work
        )

    async def run(
        self,
        rule: SweepRule,
        view: ReadView,
        actor: str,
        *,
        dry_run: bool,
        job: JobContext | None = None,
    ) -> dict[str, Any]:
        """Sweep every fact that exists now, window by window; ``{scanned, decayed, dry_run}``."""
        upto = await self.db.read("max_seq", store.max_seq_txn)
        after = scanned = 0
        job_id = job.job_id if job else None
        while after < upto:
            window = min(after + self.chunk_rows, upto)
            if dry_run:
                hits = await self.db.read(
                    "decay_count", store.count_chunk_txn, rule, view, after, window
                )
            else:
                hits = await self.db.write(
                    "decay_chunk", store.decay_chunk_txn, rule, view, after, window, actor, job_id
                )
            scanned += hits
            after = window
            if job is not None:
                await job.progress(
                    {"processed": after, "total": upto, "scanned": scanned, "decayed": scanned}
                )
        return {"scanned": scanned, "decayed": 0 if dry_run else scanned, "dry_run": dry_run}

    async def sweep_as_node(
        self,
        scope: str | None = None,
        ttl_seconds: int | None = None,
        min_confidence: float | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """A sweep by the node itself (periodic task, CLI): every fact, never a job."""
        rule = self.rule(scope, ttl_seconds, min_confidence)
        if rule is None:
            return {"scanned": 0, "decayed": 0, "dry_run": dry_run}
        view = ReadView(rule.now, None)
        return await self.run(rule, view, DECAY_ACTOR, dry_run=dry_run)
