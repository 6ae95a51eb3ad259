"""SQL for decay sweeps. Base fact rows are never touched: expiry is a validity override,
a confidence-floor hit is a retraction (``fact_retractions``, reason ``decay``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stigmem_node.audit.log import record_txn
from stigmem_node.db import Cursor
from stigmem_node.facts.rules import live_sql, valid_until_sql
from stigmem_node.facts.visibility import ReadView, acl_sql

DECAY_ACTOR = "stigmem:system:decay"


@dataclass(frozen=True, slots=True)
class SweepRule:
    """What one sweep decays. At least one of ``ttl_cutoff`` and ``floor`` is set.

    * ``ttl_cutoff``: live facts without a (projected) expiry whose ``timestamp`` is at or
      before the cutoff get ``valid_until = now``;
    * ``floor``: live facts with ``0 < confidence < floor`` are retracted.

    System facts (reserved ``stigmem:`` entity or relation) are exempt.
    """

    now: str
    ttl_cutoff: str | None
    floor: float | None
    scope: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"ttl_cutoff": self.ttl_cutoff, "min_confidence": self.floor, "scope": self.scope}


def _ttl_hit(alias: str) -> str:
    return f"({valid_until_sql(alias)} IS NULL AND {alias}.timestamp <= :cutoff)"


def _where(rule: SweepRule, view: ReadView) -> tuple[str, dict[str, Any]]:
    hits = []
    params: dict[str, Any] = {**view.params(), "now": rule.now}
    if rule.ttl_cutoff is not None:
        hits.append(_ttl_hit("f"))
        params["cutoff"] = rule.ttl_cutoff
    if rule.floor is not None:
        hits.append("f.confidence < :floor")
        params["floor"] = rule.floor
    clauses = [
        "f.seq > :after",
        "f.seq <= :upto",
        "f.reserved = 0",
        live_sql("f"),
        acl_sql("f"),
        f"({' OR '.join(hits)})",
    ]
    if rule.scope is not None:
        clauses.append("f.scope = :scope")
        params["scope"] = rule.scope
    return " AND ".join(clauses), params


def max_seq_txn(cur: Cursor) -> int:
    return int(cur.execute("SELECT COALESCE(MAX(seq), 0) FROM facts").fetchone()[0])


def count_facts_txn(cur: Cursor, scope: str | None) -> int:
    """Facts in ``scope`` (or all): what decides between a synchronous and a job sweep."""
    if scope is None:
        return int(cur.execute("SELECT COUNT(*) FROM facts").fetchone()[0])
    return int(cur.execute("SELECT COUNT(*) FROM facts WHERE scope = ?", (scope,)).fetchone()[0])


def count_chunk_txn(cur: Cursor, rule: SweepRule, view: ReadView, after: int, upto: int) -> int:
    """Candidates with ``after < seq <= upto`` (a dry run)."""
    where, params = _where(rule, view)
    params.update(after=after, upto=upto)
    return int(cur.execute(f"SELECT COUNT(*) FROM facts f WHERE {where}", params).fetchone()[0])


def decay_chunk_txn(
    cur: Cursor,
    rule: SweepRule,
    view: ReadView,
    after: int,
    upto: int,
    actor: str,
    job_id: str | None,
) -> int:
    """Decay the candidates with ``after < seq <= upto``; return how many were decayed."""
    where, params = _where(rule, view)
    params.update(after=after, upto=upto)
    ttl_flag = _ttl_hit("f") if rule.ttl_cutoff is not None else "0"
    rows = cur.execute(
        f"SELECT f.id, {ttl_flag}, f.confidence FROM facts f WHERE {where} ORDER BY f.seq",
        params,
    ).fetchall()
    expired = [(fact_id,) for fact_id, ttl_hit, _ in rows if ttl_hit]
    retracted = [
        (fact_id,) for fact_id, _, confidence in rows
        if rule.floor is not None and confidence < rule.floor
    ]  # fmt: skip
    cur.executemany(
        "INSERT OR IGNORE INTO fact_validity_overrides (fact_id, valid_until, reason, set_by,"
        " set_at) VALUES (?, ?, 'decay_sweep', ?, ?)",
        [(fact_id, rule.now, DECAY_ACTOR, rule.now) for (fact_id,) in expired],
    )
    cur.executemany(
        "INSERT OR IGNORE INTO fact_retractions (fact_id, retracted_by, reason, retracted_at)"
        " VALUES (?, ?, 'decay', ?)",
        [(fact_id, DECAY_ACTOR, rule.now) for (fact_id,) in retracted],
    )
    if rows:
        detail = {
            **rule.describe(),
            "expired": len(expired),
            "retracted": len(retracted),
            "seq_range": [after + 1, upto],
            "job_id": job_id,
        }
        record_txn(cur, rule.now, "decay_sweep", entity_uri=actor, detail=detail)
    return len(rows)
