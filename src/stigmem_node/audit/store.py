"""SQL for reading the audit log. ``*_txn`` functions run in a read transaction.

Fact events (``GET /v1/audit``, its per-fact trail and CSV export) are joined with the fact
and the attesting agent key, so they pass through the garden ACL of the caller's ``ReadView``:
an event about a fact the caller may not see is not shown, exactly like the fact itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stigmem_node.db import Cursor
from stigmem_node.facts.visibility import ReadView, acl_sql

FACT_EVENT_FIELDS = (
    "id", "fact_id", "event_type", "entity_uri", "oidc_sub", "source", "attested_key_id", "ts",
    "attested_key_entity_uri", "attested_key_description", "fact_entity", "fact_relation",
    "fact_value_type", "fact_value_v", "fact_scope",
)  # fmt: skip

_FACT_EVENT_SELECT = (
    "SELECT a.seq, a.id, a.fact_id, a.event_type, a.entity_uri, a.oidc_sub,"
    " COALESCE(a.source, f.source, ''), a.attested_key_id, a.ts, k.entity_uri, k.description,"
    " f.entity, f.relation, f.value_type, f.value_v, f.scope"
    " FROM audit_log a LEFT JOIN facts f ON f.id = a.fact_id"
    " LEFT JOIN agent_keys k ON k.id = a.attested_key_id"
)

ADMIN_EVENT_FIELDS = (
    "seq", "id", "event_type", "entity_uri", "oidc_sub", "fact_id", "source", "attested_key_id",
    "ts", "tenant_id", "detail",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FactEventFilter:
    entity_uri: str | None = None
    oidc_sub: str | None = None
    source: str | None = None
    fact_id: str | None = None
    attested: bool | None = None


@dataclass(frozen=True, slots=True)
class AdminEventFilter:
    since: str | None = None
    until: str | None = None
    principal: str | None = None
    event_type: str | None = None


def _fact_event_where(flt: FactEventFilter, view: ReadView) -> tuple[str, dict[str, Any]]:
    clauses = ["a.fact_id IS NOT NULL", acl_sql("f")]
    params: dict[str, Any] = view.params()
    if flt.entity_uri is not None:
        clauses.append("a.entity_uri = :entity_uri")
        params["entity_uri"] = flt.entity_uri
    if flt.oidc_sub is not None:
        clauses.append("a.oidc_sub = :oidc_sub")
        params["oidc_sub"] = flt.oidc_sub
    if flt.source is not None:
        # Through the facts' source index: the audit table has none (it would tax every write).
        clauses.append(
            "a.fact_id IN (SELECT id FROM facts WHERE source = :source)"
            " AND COALESCE(a.source, :source) = :source"
        )
        params["source"] = flt.source
    if flt.fact_id is not None:
        clauses.append("a.fact_id = :fact_id")
        params["fact_id"] = flt.fact_id
    if flt.attested is not None:
        clauses.append(f"a.attested_key_id IS {'NOT ' if flt.attested else ''}NULL")
    return " AND ".join(clauses), params


def _fact_event(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(FACT_EVENT_FIELDS, row[1:], strict=True))


def seq_of_event_txn(cur: Cursor, event_id: str) -> int | None:
    row = cur.execute("SELECT seq FROM audit_log WHERE id = ?", (event_id,)).fetchone()
    return int(row[0]) if row else None


def list_fact_events_txn(
    cur: Cursor, view: ReadView, flt: FactEventFilter, before_seq: int | None, limit: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """Newest first: ``(entries, total matching the filters, more pages exist)``."""
    where, params = _fact_event_where(flt, view)
    total = int(
        cur.execute(
            f"SELECT COUNT(*) FROM audit_log a LEFT JOIN facts f ON f.id = a.fact_id WHERE {where}",
            params,
        ).fetchone()[0]
    )
    page_where = where + (" AND a.seq < :before" if before_seq is not None else "")
    rows = cur.execute(
        f"{_FACT_EVENT_SELECT} WHERE {page_where} ORDER BY a.seq DESC LIMIT :limit",
        {**params, "before": before_seq, "limit": limit + 1},
    ).fetchall()
    return [_fact_event(r) for r in rows[:limit]], total, len(rows) > limit


def export_page_txn(
    cur: Cursor, view: ReadView, flt: FactEventFilter, before_seq: int | None, limit: int
) -> tuple[list[tuple[Any, ...]], int | None]:
    """One page of export rows (``FACT_EVENT_FIELDS`` order) and the seq to continue below."""
    where, params = _fact_event_where(flt, view)
    if before_seq is not None:
        where += " AND a.seq < :before"
        params["before"] = before_seq
    rows = cur.execute(
        f"{_FACT_EVENT_SELECT} WHERE {where} ORDER BY a.seq DESC LIMIT :limit",
        {**params, "limit": limit},
    ).fetchall()
    last = int(rows[-1][0]) if len(rows) == limit else None
    return [tuple(r[1:]) for r in rows], last


def fact_trail_txn(
    cur: Cursor, view: ReadView, fact_id: str
) -> tuple[list[dict[str, Any]], str | None, bool]:
    """Every visible event of one fact, oldest first, and the fact's ``(garden, exists)``."""
    where, params = _fact_event_where(FactEventFilter(fact_id=fact_id), view)
    rows = cur.execute(f"{_FACT_EVENT_SELECT} WHERE {where} ORDER BY a.seq", params).fetchall()
    fact = cur.execute("SELECT garden_id FROM facts WHERE id = ?", (fact_id,)).fetchone()
    return [_fact_event(r) for r in rows], (fact[0] if fact else None), fact is not None


def _admin_where(flt: AdminEventFilter) -> tuple[str, dict[str, Any]]:
    clauses = ["1 = 1"]
    params: dict[str, Any] = {}
    for name, sql in (
        ("since", "ts >= :since"),
        ("until", "ts <= :until"),
        ("principal", "entity_uri = :principal"),
        ("event_type", "event_type = :event_type"),
    ):
        value = getattr(flt, name)
        if value is not None:
            clauses.append(sql)
            params[name] = value
    return " AND ".join(clauses), params


def list_admin_events_txn(
    cur: Cursor, flt: AdminEventFilter, after_seq: int | None, limit: int
) -> tuple[list[dict[str, Any]], int, int | None]:
    """Oldest first: ``(entries, total matching the filters, next cursor or None)``."""
    where, params = _admin_where(flt)
    total = int(cur.execute(f"SELECT COUNT(*) FROM audit_log WHERE {where}", params).fetchone()[0])
    if after_seq is not None:
        where += " AND seq > :after"
        params["after"] = after_seq
    rows = cur.execute(
        "SELECT seq, id, event_type, entity_uri, oidc_sub, fact_id, COALESCE(source, ''),"
        f" attested_key_id, ts, tenant_id, detail FROM audit_log WHERE {where}"
        " ORDER BY seq LIMIT :limit",
        {**params, "limit": limit + 1},
    ).fetchall()
    entries = [dict(zip(ADMIN_EVENT_FIELDS, r, strict=True)) for r in rows[:limit]]
    next_cursor = entries[-1]["seq"] if len(rows) > limit else None
    return entries, total, next_cursor
