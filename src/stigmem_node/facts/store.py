"""SQL that writes and reads facts. ``*_txn`` functions take a cursor, run inside a
transaction, never commit. The liveness and contradiction rules they apply are in
``facts.rules``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from stigmem_node.audit.log import record_txn
from stigmem_node.clock import Clock, format_ts, parse_ts
from stigmem_node.db import Cursor
from stigmem_node.facts.cid import compute_cid
from stigmem_node.facts.hlc import HybridClock
from stigmem_node.facts.rules import SELECT_RECORD, live_sql, to_record, valid_until_sql
from stigmem_node.facts.uri import is_reserved
from stigmem_node.facts.visibility import ReadView, acl_sql
from stigmem_node.ids import new_time_uuid


@dataclass(slots=True)
class NewFact:
    """A checked, normalised fact ready to insert (everything but time and HLC)."""

    entity: str
    relation: str
    value_type: str
    value_v: str
    source: str
    confidence: float
    scope: str
    interpret_as: str = "content"
    valid_until: str | None = None
    attested_key_id: str | None = None
    garden_id: str | None = None
    derived_from: list[dict[str, Any]] = field(default_factory=list)
    writer: str | None = None
    quarantined: bool = False  # written into a quarantine garden: held for moderation
    # Federation provenance, set only on facts ingested from a peer (federation.ingest).
    received_from: str | None = None
    origin_node_id: str | None = None
    origin_allowed_scopes: list[str] | None = None
    re_federation_blocked: bool = False
    id: str = field(default_factory=new_time_uuid)
    cid: str = ""

    def __post_init__(self) -> None:
        if not self.cid:
            self.cid = compute_cid(
                entity=self.entity,
                relation=self.relation,
                value_type=self.value_type,
                value_v=self.value_v,
                source=self.source,
                confidence=self.confidence,
                scope=self.scope,
            )

    @property
    def reserved(self) -> bool:
        # ``garden:`` relations are the node's membership metadata (spec §17.6): never rivals.
        return (
            is_reserved(self.entity)
            or is_reserved(self.relation)
            or self.relation.startswith("garden:")
        )


@dataclass(slots=True)
class WriteContext:
    """What a write transaction needs from the node: time and the HLC."""

    clock: Clock
    hlc: HybridClock
    system_source: str = "system:stigmem"


@dataclass(slots=True)
class AssertOutcome:
    record: dict[str, Any]
    created: bool
    conflict_ids: list[str]


def get_record_txn(cur: Cursor, view: ReadView, fact_id: str) -> dict[str, Any] | None:
    """The record of one fact, whatever its garden: callers check ``garden_id`` access."""
    row = cur.execute(
        f"{SELECT_RECORD} WHERE f.id = :id", {"id": fact_id, "now": view.now}
    ).fetchone()
    return to_record(row) if row else None


def get_record_by_cid_txn(cur: Cursor, view: ReadView, cid: str) -> dict[str, Any] | None:
    """The newest fact the caller may see with this CID."""
    row = cur.execute(
        f"{SELECT_RECORD} WHERE f.cid = :cid AND {acl_sql('f')} ORDER BY f.seq DESC LIMIT 1",
        {"cid": cid, **view.params()},
    ).fetchone()
    return to_record(row) if row else None


def _newest_same_content(cur: Cursor, fact: NewFact) -> tuple[str, str | None, str | None] | None:
    # A retracted fact (decay, resolution) is dead: re-asserting its content writes a new one.
    row = cur.execute(
        f"SELECT f.id, f.cid, {valid_until_sql('f')} FROM facts f"
        # "value_type || ''": a bound value_type could match the partial ref indexes, which
        # makes SQLite re-prepare the statement on every call (measured 4x slower).
        " WHERE f.entity = ? AND f.relation = ? AND f.scope = ? AND f.value_type || '' = ?"
        " AND f.value_v = ? AND f.garden_id IS ?"
        " AND NOT EXISTS (SELECT 1 FROM fact_retractions r WHERE r.fact_id = f.id)"
        " ORDER BY f.seq DESC LIMIT 1",
        (fact.entity, fact.relation, fact.scope, fact.value_type, fact.value_v, fact.garden_id),
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def ttl_for(cur: Cursor, entity: str, now: str) -> float | None:
    """Seconds from the newest live ``(entity, stigmem:ttl, number)`` fact, if any."""
    row = cur.execute(
        f"SELECT f.value_v FROM facts f WHERE f.entity = :entity AND f.relation = 'stigmem:ttl'"
        f" AND f.value_type = 'number' AND {live_sql('f')} ORDER BY f.seq DESC LIMIT 1",
        {"entity": entity, "now": now},
    ).fetchone()
    return float(row[0]) if row else None


def observe_newest_hlc_txn(cur: Cursor, hlc: HybridClock) -> None:
    """Merge the newest committed fact's HLC into ``hlc`` (run first in each write
    transaction: another process sharing the database may have written since)."""
    row = cur.execute("SELECT hlc FROM facts ORDER BY seq DESC LIMIT 1").fetchone()
    if row is not None:
        hlc.observe(row[0])


INSERT_SQL = (
    "INSERT INTO facts (id, entity, relation, value_type, value_v, interpret_as, source,"
    " timestamp, hlc, valid_until, valid_until_utc, confidence, scope, attested_key_id,"
    " garden_id, cid, derived_from, writer, reserved, received_from, origin_node_id,"
    " origin_allowed_scopes, re_federation_blocked)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def row_params(
    ctx: WriteContext, fact: NewFact, timestamp: str | None = None
) -> tuple[str, str, str | None, tuple[Any, ...]]:
    """``(timestamp, hlc, valid_until_utc, INSERT_SQL parameters)`` of a fact written now
    (ticks the HLC)."""
    ts = timestamp or format_ts(ctx.clock.now())
    hlc = ctx.hlc.tick()
    valid_until_utc = format_ts(parse_ts(fact.valid_until)) if fact.valid_until else None
    params = (
        fact.id, fact.entity, fact.relation, fact.value_type, fact.value_v,
        fact.interpret_as, fact.source, ts, hlc, fact.valid_until, valid_until_utc,
        fact.confidence, fact.scope, fact.attested_key_id, fact.garden_id, fact.cid,
        orjson.dumps(fact.derived_from).decode() if fact.derived_from else None,
        fact.writer, int(fact.reserved), fact.received_from, fact.origin_node_id,
        orjson.dumps(fact.origin_allowed_scopes).decode()
        if fact.origin_allowed_scopes is not None else None,
        int(fact.re_federation_blocked),
    )  # fmt: skip
    return ts, hlc, valid_until_utc, params


def insert_row_txn(
    cur: Cursor, ctx: WriteContext, fact: NewFact, *, timestamp: str | None = None
) -> tuple[str, str, str]:
    """Insert one fact row; return ``(timestamp, hlc, valid_until_utc)``.

    Its ``seq`` (commit sequence) is assigned by the database."""
    ts, hlc, valid_until_utc, params = row_params(ctx, fact, timestamp)
    cur.execute(INSERT_SQL, params)
    return ts, hlc, valid_until_utc or ""


def assert_fact_txn(cur: Cursor, ctx: WriteContext, fact: NewFact) -> AssertOutcome:
    """The whole assert: idempotency, TTL, insert, retraction, contradictions, audit."""
    now = format_ts(ctx.clock.now())
    newest = _newest_same_content(cur, fact)
    if newest is not None:
        existing_id, existing_cid, existing_expiry = newest
        if existing_cid == fact.cid and (existing_expiry is None or existing_expiry > now):
            record = get_record_txn(cur, ReadView(now, None), existing_id)
            assert record is not None
            return AssertOutcome(record, created=False, conflict_ids=[])
    if fact.valid_until is None and not fact.reserved:
        ttl = ttl_for(cur, fact.entity, now)
        # A TTL past the calendar's end (e.g. 1e300 s) means the fact never expires.
        with contextlib.suppress(OverflowError):
            if ttl is not None:
                fact.valid_until = format_ts(ctx.clock.now() + timedelta(seconds=ttl))
    ts, hlc, _ = insert_row_txn(cur, ctx, fact)
    conflict_ids: list[str] = []
    if fact.quarantined:
        # Held for moderation: it retracts and contradicts nothing until promoted.
        hold_txn(cur, fact, now)
    elif fact.confidence == 0.0:
        _retract_earlier_txn(cur, fact, now)
    elif not fact.reserved:
        conflict_ids = detect_conflicts_txn(cur, ctx, fact, now)
    detail: dict[str, Any] = {"cid": fact.cid, "scope": fact.scope}
    if conflict_ids:
        detail["conflicts"] = conflict_ids
    if fact.garden_id is not None:
        detail["garden_id"] = fact.garden_id
    if fact.quarantined:
        detail["quarantine"] = "pending"
    record_txn(
        cur,
        now,
        "fact_retract" if fact.confidence == 0.0 else "fact_write",
        entity_uri=fact.writer,
        fact_id=fact.id,
        source=fact.source,
        attested_key_id=fact.attested_key_id,
        detail=detail,
    )
    # The record of a fact just written is known: no need to read it back. It is
    # contradicted exactly when this write opened conflicts (a rival value is live).
    record = to_record(row_of(fact, ts, hlc, contradicted=bool(conflict_ids)))
    return AssertOutcome(record, created=True, conflict_ids=conflict_ids)


def row_of(fact: NewFact, ts: str, hlc: str, *, contradicted: bool) -> tuple[Any, ...]:
    """``fact`` as a row in ``SELECT_RECORD`` column order (for ``to_record``)."""
    return (
        None, fact.id, fact.entity, fact.relation, fact.value_type, fact.value_v,
        fact.interpret_as, fact.source, ts, hlc, fact.received_from, fact.valid_until,
        fact.confidence, fact.scope, fact.attested_key_id, fact.origin_node_id,
        orjson.dumps(fact.origin_allowed_scopes).decode()
        if fact.origin_allowed_scopes is not None else None,
        fact.garden_id, fact.cid,
        orjson.dumps(fact.derived_from).decode() if fact.derived_from else None,
        "pending" if fact.quarantined else None, contradicted,
    )  # fmt: skip


def hold_txn(cur: Cursor, fact: NewFact, now: str, reason: str | None = None) -> None:
    """Hold an inserted fact for moderation in its (quarantine) garden."""
    cur.execute(
        "INSERT INTO fact_quarantine (fact_id, garden_id, status, reason, held_at)"
        " VALUES (?, ?, 'pending', ?, ?)",
        (fact.id, fact.garden_id, reason or "written to a quarantine garden", now),
    )


def _retract_earlier_txn(cur: Cursor, fact: NewFact, now: str) -> None:
    cur.execute(
        "INSERT OR IGNORE INTO fact_retractions (fact_id, retracted_by, reason, retracted_at)"
        " SELECT id, ?, 'retraction', ? FROM facts WHERE entity = ? AND relation = ?"
        " AND scope = ? AND value_type || '' = ? AND value_v = ? AND confidence > 0 AND id <> ?"
        " AND garden_id IS ?",
        (fact.id, now, fact.entity, fact.relation, fact.scope, fact.value_type, fact.value_v,
         fact.id, fact.garden_id),
    )  # fmt: skip


def detect_conflicts_txn(cur: Cursor, ctx: WriteContext, fact: NewFact, now: str) -> list[str]:
    """A conflict per distinct other live value on the triple (its newest fact)."""
    if fact.valid_until is not None and format_ts(parse_ts(fact.valid_until)) <= now:
        return []
    rivals = cur.execute(
        f"SELECT g.id, g.value_type, g.value_v FROM facts g WHERE g.entity = :entity"
        f" AND g.relation = :relation AND g.scope = :scope AND g.id <> :id"
        f" AND g.garden_id IS :garden_id"
        f" AND (g.value_type <> :vt OR g.value_v <> :vv) AND {live_sql('g')}"
        f" ORDER BY g.seq DESC",
        {
            "entity": fact.entity, "relation": fact.relation, "scope": fact.scope,
            "id": fact.id, "vt": fact.value_type, "vv": fact.value_v, "now": now,
            "garden_id": fact.garden_id,
        },
    ).fetchall()  # fmt: skip
    seen: set[tuple[str, str]] = set()
    conflict_ids = []
    for rival_id, value_type, value_v in rivals:
        if (value_type, value_v) in seen:
            continue
        seen.add((value_type, value_v))
        conflict_id = f"stigmem:conflict:{new_time_uuid()}"
        cur.execute(
            "INSERT INTO conflicts (id, fact_a_id, fact_b_id, status, detected_at)"
            " VALUES (?, ?, ?, 'unresolved', ?)",
            (conflict_id, fact.id, rival_id, now),
        )
        for relation, value_type_meta, value in (
            ("stigmem:conflict:between", "text", f"{fact.id} {rival_id}"),
            ("stigmem:conflict:status", "string", "unresolved"),
        ):
            meta = NewFact(
                entity=conflict_id,
                relation=relation,
                value_type=value_type_meta,
                value_v=value,
                source=ctx.system_source,
                confidence=1.0,
                scope=fact.scope,
                garden_id=fact.garden_id,
                writer=ctx.system_source,
            )
            insert_row_txn(cur, ctx, meta)
        conflict_ids.append(conflict_id)
    return conflict_ids


# -- shared with federation ingest -------------------------------------------------------------
def live_duplicate_txn(cur: Cursor, fact: NewFact, now: str) -> str | None:
    """The id of the fact an assert of ``fact`` would return instead of writing (assert's
    idempotency rule: the newest unretracted same-content fact has this CID and is unexpired)."""
    newest = _newest_same_content(cur, fact)
    if newest is None:
        return None
    existing_id, existing_cid, existing_expiry = newest
    if existing_cid == fact.cid and (existing_expiry is None or existing_expiry > now):
        return existing_id
    return None


def write_effects_txn(cur: Cursor, ctx: WriteContext, fact: NewFact, now: str) -> list[str]:
    """Retraction and contradiction effects of a fact just inserted; the new conflict ids."""
    if fact.confidence == 0.0:
        _retract_earlier_txn(cur, fact, now)
        return []
    if fact.reserved:
        return []
    if _retracted_before_arrival_txn(cur, fact, now):
        return []
    return detect_conflicts_txn(cur, ctx, fact, now)


def _retracted_before_arrival_txn(cur: Cursor, fact: NewFact, now: str) -> bool:
    """Facts from peers arrive out of order: a retraction of this content, made at or after
    this fact's (original) time, may already be stored. Then the fact arrives retracted."""
    row = cur.execute(
        "SELECT r.id FROM facts f JOIN facts r ON r.entity = f.entity AND r.relation = f.relation"
        " AND r.scope = f.scope AND r.value_type = f.value_type AND r.value_v = f.value_v"
        " AND r.garden_id IS f.garden_id"
        " WHERE f.id = ? AND r.confidence = 0 AND r.id <> f.id AND r.timestamp >= f.timestamp"
        " ORDER BY r.seq DESC LIMIT 1",
        (fact.id,),
    ).fetchone()
    if row is None:
        return False
    cur.execute(
        "INSERT OR IGNORE INTO fact_retractions (fact_id, retracted_by, reason, retracted_at)"
        " VALUES (?, ?, 'retraction', ?)",
        (fact.id, row[0], now),
    )
    return True
