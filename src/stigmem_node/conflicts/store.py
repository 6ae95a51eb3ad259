"""SQL for conflicts and their resolution."""

from __future__ import annotations

from typing import Any

from stigmem_node.audit.log import record_txn
from stigmem_node.clock import format_ts
from stigmem_node.db import Cursor
from stigmem_node.errors import Conflict, NodeError, NotFound
from stigmem_node.facts import store as facts
from stigmem_node.facts.store import NewFact, WriteContext
from stigmem_node.facts.visibility import ReadView, acl_sql

_COLS = "c.seq, c.id, c.fact_a_id, c.fact_b_id, c.status, c.resolved_by, c.detected_at"


def list_conflicts_txn(
    cur: Cursor, view: ReadView, status: str | None, after_seq: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Conflicts whose facts the caller may see (both sides share one garden)."""
    clauses: list[str] = [
        f"EXISTS (SELECT 1 FROM facts f WHERE f.id = c.fact_a_id AND {acl_sql('f')})"
    ]
    params: dict[str, Any] = view.params()
    if status is not None:
        clauses.append("c.status = :status")
        params["status"] = status
    if after_seq is not None:
        clauses.append("c.seq > :after_seq")
        params["after_seq"] = after_seq
    params["limit"] = limit + 1
    rows = cur.execute(
        f"SELECT {_COLS} FROM conflicts c WHERE {' AND '.join(clauses)}"
        " ORDER BY c.seq LIMIT :limit",
        params,
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    out = []
    for seq, conflict_id, a_id, b_id, state, resolved_by, detected_at in rows:
        out.append(
            {
                "conflict_id": conflict_id,
                "fact_a": facts.get_record_txn(cur, view, a_id),
                "fact_b": facts.get_record_txn(cur, view, b_id),
                "status": state,
                "resolved_by": resolved_by,
                "detected_at": detected_at,
                "_seq": seq,
            }
        )
    return out, (rows[-1][0] if more and rows else None)


def conflict_garden_txn(cur: Cursor, conflict_id: str) -> str | None:
    """The garden both facts of a conflict belong to (None: no garden or no conflict)."""
    row = cur.execute(
        "SELECT f.garden_id FROM conflicts c JOIN facts f ON f.id = c.fact_a_id WHERE c.id = ?",
        (conflict_id,),
    ).fetchone()
    return row[0] if row else None


def resolve_txn(
    cur: Cursor,
    ctx: WriteContext,
    view: ReadView,
    conflict_id: str,
    caller: str,
    winning_fact_id: str | None,
    new_value: tuple[str, str, str] | None,
) -> str:
    """Resolve a conflict additively; return the resolution fact's id."""
    now = format_ts(ctx.clock.now())
    row = cur.execute(
        "SELECT fact_a_id, fact_b_id, status FROM conflicts WHERE id = ?", (conflict_id,)
    ).fetchone()
    if row is None:
        raise NotFound("conflict not found")
    a_id, b_id, status = row
    if status == "resolved":
        raise Conflict("conflict already resolved")
    system = ReadView(now, None)
    fact_a = facts.get_record_txn(cur, system, a_id)
    fact_b = facts.get_record_txn(cur, system, b_id)
    if not view.can_see_garden(fact_a["garden_id"] if fact_a else None):
        raise NotFound("conflict not found")
    assert fact_a is not None
    assert fact_b is not None
    if winning_fact_id is not None:
        if winning_fact_id not in (a_id, b_id):
            raise NodeError("winning_fact_id must be one of the conflicting facts", status=422)
        winner = fact_a if winning_fact_id == a_id else fact_b
        value_type = winner["value"]["type"]
        value_v = _stored_v(cur, winning_fact_id)
        interpret_as = winner["value"]["interpret_as"]
    else:
        assert new_value is not None
        value_type, value_v, interpret_as = new_value
    resolution = NewFact(
        entity=f"stigmem:resolution:{conflict_id}",
        relation=fact_a["relation"],
        value_type=value_type,
        value_v=value_v,
        source=caller,
        confidence=1.0,
        scope=fact_a["scope"],
        interpret_as=interpret_as,
        garden_id=fact_a["garden_id"],
        writer=caller,
    )
    # Retract the losing values first, so a new value does not open fresh conflicts with them.
    _retract_losers_txn(cur, fact_a, fact_b, (value_type, value_v), resolution.id, now)
    if winning_fact_id is None:
        # The new value becomes an ordinary fact on the contested triple.
        facts.assert_fact_txn(
            cur,
            ctx,
            NewFact(
                entity=fact_a["entity"], relation=fact_a["relation"], value_type=value_type,
                value_v=value_v, source=caller, confidence=1.0, scope=fact_a["scope"],
                interpret_as=interpret_as, garden_id=fact_a["garden_id"], writer=caller,
            ),
        )  # fmt: skip
    facts.insert_row_txn(cur, ctx, resolution)
    for entity, relation, meta_type, meta_v in (
        (resolution.id, "stigmem:resolves", "ref", conflict_id),
        (conflict_id, "stigmem:conflict:status", "string", "resolved"),
    ):
        facts.insert_row_txn(
            cur,
            ctx,
            NewFact(
                entity=entity, relation=relation, value_type=meta_type, value_v=meta_v,
                source=ctx.system_source, confidence=1.0, scope=fact_a["scope"],
                garden_id=fact_a["garden_id"], writer=caller,
            ),
        )  # fmt: skip
    cur.execute(
        "UPDATE conflicts SET status = 'resolved', resolution_fact_id = ?, resolved_by = ?,"
        " resolved_at = ? WHERE id = ?",
        (resolution.id, caller, now, conflict_id),
    )
    record_txn(
        cur,
        now,
        "conflict_resolved",
        entity_uri=caller,
        fact_id=resolution.id,
        detail={"conflict_id": conflict_id, "winning_fact_id": winning_fact_id},
    )
    return resolution.id


def _retract_losers_txn(
    cur: Cursor,
    fact_a: dict[str, Any],
    fact_b: dict[str, Any],
    kept: tuple[str, str],
    resolution_id: str,
    now: str,
) -> None:
    """The losing values stop being live on the triple, so the contradiction is settled."""
    contested = {(fact["value"]["type"], _stored_v(cur, fact["id"])) for fact in (fact_a, fact_b)}
    for loser_type, loser_v in contested - {kept}:
        cur.execute(
            "INSERT OR IGNORE INTO fact_retractions (fact_id, retracted_by, reason, retracted_at)"
            " SELECT id, ?, 'conflict_resolved', ? FROM facts WHERE entity = ? AND relation = ?"
            " AND scope = ? AND value_type || '' = ? AND value_v = ? AND confidence > 0"
            " AND garden_id IS ?",
            (
                resolution_id, now, fact_a["entity"], fact_a["relation"], fact_a["scope"],
                loser_type, loser_v, fact_a["garden_id"],
            ),
        )  # fmt: skip


def _stored_v(cur: Cursor, fact_id: str) -> str:
    return str(cur.execute("SELECT value_v FROM facts WHERE id = ?", (fact_id,)).fetchone()[0])
