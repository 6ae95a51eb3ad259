"""SQL for quarantine holds: listing, promotion and rejection. ``*_txn`` never commit.

A held fact is never changed. Promotion asserts a copy of it (same content, source and
expiry) into the target garden, or into no garden, through the ordinary assert path, so the
copy gets idempotency, retraction and contradiction handling like any write; the original is
then retired (retracted, reason ``quarantine_promoted``). Rejection retracts the original.
Both record the decision in ``fact_quarantine`` (final: a trigger refuses a second one) and
an audit event with who, when and why, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.audit.log import record_txn
from stigmem_node.clock import format_ts
from stigmem_node.db import Cursor
from stigmem_node.errors import Conflict, NotFound
from stigmem_node.facts import store as facts
from stigmem_node.facts.store import NewFact
from stigmem_node.gardens.store import GardenCtx

NOT_PENDING = "fact_not_quarantine_pending"


@dataclass(frozen=True, slots=True)
class Hold:
    fact_id: str
    garden_id: str
    status: str
    scope: str


def get_hold_txn(cur: Cursor, fact_id: str) -> Hold | None:
    row = cur.execute(
        "SELECT q.fact_id, q.garden_id, q.status, f.scope FROM fact_quarantine q"
        " JOIN facts f ON f.id = q.fact_id WHERE q.fact_id = ?",
        (fact_id,),
    ).fetchone()
    return Hold(*row) if row else None


def list_holds_txn(
    cur: Cursor,
    gardens: frozenset[str] | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Holds in ``gardens`` (None: every garden), newest first, and their total."""
    clauses = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if gardens is not None:
        clauses.append("q.garden_id IN (SELECT value FROM json_each(:gardens))")
        params["gardens"] = orjson.dumps(sorted(gardens)).decode()
    if status is not None:
        clauses.append("q.status = :status")
        params["status"] = status
    where = " AND ".join(clauses)
    total = cur.execute(f"SELECT COUNT(*) FROM fact_quarantine q WHERE {where}", params)
    count = int(total.fetchone()[0])
    rows = cur.execute(
        "SELECT f.id, f.entity, f.relation, f.source, q.status, q.garden_id, q.reason,"
        " q.acted_by, q.acted_at, f.received_from, f.timestamp"
        f" FROM fact_quarantine q JOIN facts f ON f.id = q.fact_id WHERE {where}"
        " ORDER BY f.seq DESC LIMIT :limit OFFSET :offset",
        params,
    ).fetchall()
    keys = (
        "fact_id", "entity", "relation", "source", "quarantine_status", "quarantine_garden_id",
        "quarantine_reason", "quarantine_acted_by", "quarantine_acted_at",
    )  # fmt: skip
    items = []
    for row in rows:
        item = dict(zip(keys, row[:9], strict=True))
        item.update(source_trust=None, received_from=row[9], timestamp=row[10])
        items.append(item)
    return items, count


def promote_txn(
    cur: Cursor,
    gc: GardenCtx,
    fact_id: str,
    target_id: str | None,
    actor: str,
    reason: str,
    action: str,
) -> dict[str, Any]:
    """Promote a pending hold into ``target_id`` (None: no garden); 409 if already decided."""
    now = format_ts(gc.ctx.clock.now())
    _decidable(cur, fact_id)
    copy = _copy_of(cur, fact_id, target_id, actor)
    outcome = facts.assert_fact_txn(cur, gc.ctx, copy)
    promoted_id = str(outcome.record["id"])
    _decide(cur, fact_id, "promoted", actor, now, reason, target_id, promoted_id)
    cur.execute(
        "INSERT OR IGNORE INTO fact_retractions (fact_id, retracted_by, reason, retracted_at)"
        " VALUES (?, ?, 'quarantine_promoted', ?)",
        (fact_id, promoted_id, now),
    )
    record_txn(
        cur,
        now,
        "quarantine_promote",
        entity_uri=actor,
        fact_id=fact_id,
        detail={
            "action": action, "reason": reason, "target_garden_id": target_id,
            "promoted_fact_id": promoted_id,
        },
    )  # fmt: skip
    return {
        "fact_id": fact_id, "action": action, "target_garden_id": target_id,
        "promoted_fact_id": promoted_id, "acted_by": actor, "acted_at": now,
    }  # fmt: skip


def reject_txn(cur: Cursor, gc: GardenCtx, fact_id: str, actor: str, reason: str) -> dict[str, Any]:
    """Reject a pending hold: the held fact is retracted; 409 if already decided."""
    now = format_ts(gc.ctx.clock.now())
    _decidable(cur, fact_id)
    _decide(cur, fact_id, "rejected", actor, now, reason, None, None)
    cur.execute(
        "INSERT OR IGNORE INTO fact_retractions (fact_id, retracted_by, reason, retracted_at)"
        " VALUES (?, ?, 'quarantine_rejected', ?)",
        (fact_id, actor, now),
    )
    record_txn(
        cur,
        now,
        "quarantine_reject",
        entity_uri=actor,
        fact_id=fact_id,
        detail={"action": "rejected", "reason": reason},
    )
    return {"fact_id": fact_id, "action": "rejected", "acted_by": actor, "acted_at": now}


def _decidable(cur: Cursor, fact_id: str) -> None:
    """Re-check, inside the writing transaction, that the hold is still pending."""
    hold = get_hold_txn(cur, fact_id)
    if hold is None:
        raise NotFound("quarantined fact not found")
    if hold.status != "pending":
        raise Conflict(NOT_PENDING)


def _decide(
    cur: Cursor,
    fact_id: str,
    status: str,
    actor: str,
    now: str,
    reason: str,
    target_id: str | None,
    promoted_id: str | None,
) -> None:
    cur.execute(
        "UPDATE fact_quarantine SET status = ?, acted_by = ?, acted_at = ?, reason = ?,"
        " target_garden_id = ?, promoted_fact_id = ? WHERE fact_id = ? AND status = 'pending'",
        (status, actor, now, reason, target_id, promoted_id, fact_id),
    )


def _copy_of(cur: Cursor, fact_id: str, garden_id: str | None, actor: str) -> NewFact:
    row = cur.execute(
        "SELECT entity, relation, value_type, value_v, source, confidence, scope, interpret_as,"
        " valid_until, attested_key_id, derived_from FROM facts WHERE id = ?",
        (fact_id,),
    ).fetchone()
    (entity, relation, value_type, value_v, source, confidence, scope, interpret_as,
     valid_until, attested_key_id, derived_from) = row  # fmt: skip
    return NewFact(
        entity=entity, relation=relation, value_type=value_type, value_v=value_v,
        source=source, confidence=float(confidence), scope=scope, interpret_as=interpret_as,
        valid_until=valid_until, attested_key_id=attested_key_id, garden_id=garden_id,
        derived_from=orjson.loads(derived_from) if derived_from else [], writer=actor,
    )  # fmt: skip
