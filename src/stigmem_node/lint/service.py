"""Lint runs: read-only sweeps of one scope, entity batch by entity batch.

Every read goes through the caller's ``ReadView`` (garden ACL), so findings never mention a
fact the caller could not read. Above ``async_job_threshold`` facts in the scope a run is a
job (202); its findings then land in the job record.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from stigmem_node.auth.caller import Caller
from stigmem_node.clock import Clock, format_ts, parse_ts
from stigmem_node.db import Database
from stigmem_node.errors import BadRequest
from stigmem_node.facts.api import check_scope
from stigmem_node.facts.service import FactService
from stigmem_node.facts.uri import InvalidEntityURI, normalise_uri
from stigmem_node.facts.visibility import ReadView
from stigmem_node.jobs.service import JobContext, JobService
from stigmem_node.lint import checks, store
from stigmem_node.lint.models import CHECKS, LintRequest
from stigmem_node.lint.store import LintScope

ENTITY_BATCH = 500
MAX_FINDINGS = 10_000  # reported (the most severe first); finding_count has them all


@dataclass(frozen=True, slots=True)
class LintPlan:
    target: LintScope
    checks: tuple[str, ...]
    lookahead_s: int


@dataclass(slots=True)
class LintService:
    db: Database
    clock: Clock
    facts: FactService
    jobs: JobService
    async_job_threshold: int
    entity_batch: int = ENTITY_BATCH

    async def lint(self, caller: Caller, req: LintRequest) -> tuple[int, dict[str, Any]]:
        """``POST /v1/lint``: ``(200, result)`` or ``(202, job)``. Raises 400 on bad input."""
        caller.require("read")
        plan = self.plan(req)
        view = await self.facts.view_for(caller)
        total = await self.db.read("lint_count", store.count_txn, plan.target, view)
        if total > self.async_job_threshold:

            async def work(ctx: JobContext) -> dict[str, Any]:
                return await self.run(plan, view, job=ctx)

            params = {
                "checks": list(plan.checks),
                "entity": plan.target.entity,
                "relation": plan.target.relation,
                "stale_lookahead_s": plan.lookahead_s,
            }
            body = await self.jobs.submit(
                caller, "lint", plan.target.scope, params, max(10, total // 5000), work
            )
            return 202, body
        return 200, await self.run(plan, view)

    @staticmethod
    def plan(req: LintRequest) -> LintPlan:
        scope = check_scope(req.scope)
        assert scope is not None
        entity = None
        if req.entity is not None:
            try:
                entity = normalise_uri(req.entity)
            except InvalidEntityURI as exc:
                raise BadRequest(str(exc)) from None
        wanted = set(req.checks or CHECKS)
        return LintPlan(
            target=LintScope(scope, entity, req.relation),
            checks=tuple(c for c in CHECKS if c in wanted),
            lookahead_s=req.stale_lookahead_s,
        )

    async def run(
        self, plan: LintPlan, view: ReadView, job: JobContext | None = None
    ) -> dict[str, Any]:
        """Lint every entity of the target, a batch at a time; the full result body."""
        window = checks.Window(view.now, _horizon(view.now, plan.lookahead_s), plan.target.scope)
        findings: list[dict[str, Any]] = []
        fact_count = found = 0
        after = ""
        while True:
            entities = await self.db.read(
                "lint_entities", store.entity_batch_txn, plan.target, view, after,
                self.entity_batch,
            )  # fmt: skip
            if not entities:
                break
            rows = await self.db.read("lint_rows", store.rows_txn, plan.target, view, entities)
            fact_count += len(rows)
            batch = await self._check(plan, view, window, rows)
            found += len(batch)
            findings += batch
            if len(findings) > 2 * MAX_FINDINGS:  # keep the first ones: bounded memory
                findings = heapq.nsmallest(MAX_FINDINGS, findings, key=checks.sort_key)
            after = entities[-1]
            if job is not None:
                await job.progress({"entities_done": after, "facts_checked": fact_count,
                                    "findings": found})  # fmt: skip
        findings = heapq.nsmallest(MAX_FINDINGS, findings, key=checks.sort_key)
        return {
            "findings": findings,
            "checked_at": format_ts(self.clock.now()),
            "scope": plan.target.scope,
            "checks_run": list(plan.checks),
            "fact_count": fact_count,
            "finding_count": found,
            "findings_truncated": found > len(findings),
        }

    async def _check(
        self, plan: LintPlan, view: ReadView, window: checks.Window, rows: list[store.LintRow]
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if "contradiction" in plan.checks:
            out += checks.contradictions(rows)
        if "stale" in plan.checks:
            out += checks.stale(rows, window)
        if "orphan" in plan.checks:
            out += checks.orphans(rows, window)
        if "broken_ref" in plan.checks:
            targets = checks.ref_targets(rows)
            wanted = sorted({t for t in targets.values() if t is not None})
            live = await self.db.read(
                "lint_targets", store.live_entities_txn, plan.target.scope, view, wanted
            )
            out += checks.broken_refs(rows, targets, live, window)
        if "namespacing" in plan.checks:
            out += checks.namespacing(rows)
        return out


def _horizon(now: str, lookahead_s: int) -> str | None:
    if lookahead_s <= 0:
        return None
    try:
        return format_ts(parse_ts(now) + timedelta(seconds=lookahead_s))
    except (OverflowError, ValueError):  # beyond the calendar: everything with an expiry
        return "9999"
