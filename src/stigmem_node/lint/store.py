"""SQL for lint: read-only, always inside the caller's garden ACL, one scope at a time.

Reserved ``stigmem:`` facts (conflict records, TTL settings) are protocol metadata, not
memory, and are never linted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.db import Cursor
from stigmem_node.facts.rules import live_sql, valid_until_sql
from stigmem_node.facts.visibility import ReadView, acl_sql

# The facts of a JSON list of entities: the list drives, each entity probes the triple index
# (left to itself the planner may scan a whole scope and filter).
BY_ENTITY = (
    "json_each(:entities) AS e CROSS JOIN facts f INDEXED BY facts_triple ON f.entity = e.value"
)


@dataclass(frozen=True, slots=True)
class LintScope:
    """Which facts one lint run examines."""

    scope: str
    entity: str | None = None
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class LintRow:
    id: str
    entity: str
    relation: str
    value_type: str
    value_v: str
    garden_id: str | None
    confidence: float
    valid_until: str | None  # projected, UTC
    retracted: bool
    live: bool


def _base(target: LintScope, view: ReadView) -> tuple[list[str], dict[str, Any]]:
    clauses = ["f.scope = :scope", "f.reserved = 0", acl_sql("f")]
    params: dict[str, Any] = {**view.params(), "scope": target.scope}
    if target.entity is not None:
        clauses.append("f.entity = :entity")
        params["entity"] = target.entity
    if target.relation is not None:
        clauses.append("f.relation = :relation")
        params["relation"] = target.relation
    return clauses, params


def count_txn(cur: Cursor, target: LintScope, view: ReadView) -> int:
    """Facts the run considers (before any check filters them)."""
    clauses, params = _base(target, view)
    sql = f"SELECT COUNT(*) FROM facts f WHERE {' AND '.join(clauses)}"
    return int(cur.execute(sql, params).fetchone()[0])


def entity_batch_txn(
    cur: Cursor, target: LintScope, view: ReadView, after: str, limit: int
) -> list[str]:
    """The next ``limit`` entities (in order) after ``after`` that have facts to lint."""
    clauses, params = _base(target, view)
    clauses.append("f.entity > :after")
    params.update(after=after, limit=limit)
    rows = cur.execute(
        # Walk the triple index in entity order: each batch reads only its own entities'
        # rows (and rows of other scopes in between), never the whole scope again.
        "SELECT DISTINCT f.entity FROM facts f INDEXED BY facts_triple"
        f" WHERE {' AND '.join(clauses)} ORDER BY f.entity LIMIT :limit",
        params,
    ).fetchall()
    return [str(row[0]) for row in rows]


def rows_txn(cur: Cursor, target: LintScope, view: ReadView, entities: list[str]) -> list[LintRow]:
    """Every fact of ``entities`` the run considers, with its liveness at ``view.now``."""
    clauses, params = _base(target, view)
    params["entities"] = orjson.dumps(entities).decode()
    rows = cur.execute(
        "SELECT f.id, f.entity, f.relation, f.value_type, f.value_v, f.garden_id,"
        f" f.confidence, {valid_until_sql('f')},"
        " EXISTS (SELECT 1 FROM fact_retractions r WHERE r.fact_id = f.id),"
        f" {live_sql('f')}"
        f" FROM {BY_ENTITY} WHERE {' AND '.join(clauses)} ORDER BY f.entity, f.seq",
        params,
    ).fetchall()
    return [
        LintRow(
            id=r[0], entity=r[1], relation=r[2], value_type=r[3], value_v=r[4],
            garden_id=r[5], confidence=float(r[6]), valid_until=r[7],
            retracted=bool(r[8]), live=bool(r[9]),
        )
        for r in rows
    ]  # fmt: skip


def live_entities_txn(cur: Cursor, scope: str, view: ReadView, entities: list[str]) -> set[str]:
    """Which of ``entities`` have at least one live fact the caller can see in ``scope``."""
    if not entities:
        return set()
    rows = cur.execute(
        f"SELECT DISTINCT f.entity FROM {BY_ENTITY}"
        f" WHERE f.scope = :scope AND {acl_sql('f')} AND {live_sql('f')}",
        {**view.params(), "scope": scope, "entities": orjson.dumps(entities).decode()},
    ).fetchall()
    return {str(row[0]) for row in rows}
