"""``GET /v1/facts``: filters, query-time resolution, keyset pagination, real totals."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from stigmem_node.clock import format_ts, parse_ts
from stigmem_node.db import Cursor
from stigmem_node.errors import BadRequest
from stigmem_node.facts.rules import (
    RELATION_INDEX,
    TRIPLE_INDEX,
    beaten_sql,
    not_expired_sql,
    select_record,
    to_record,
)
from stigmem_node.facts.visibility import ReadView, acl_sql

# "SELECT <record columns> FROM " for each place rivals are looked up (the caller names the table)
_SELECT_FROM = {i: select_record(i).removesuffix("facts f") for i in (TRIPLE_INDEX, RELATION_INDEX)}
_CURSOR_PREFIX = "k1:"
_CURSOR_RE = re.compile(r"k1:([0-9]{1,19})")
_MAX_SEQ = 2**63 - 1


@dataclass(frozen=True, slots=True)
class FactQuery:
    entity: str | None = None
    relation: str | None = None
    source: str | None = None
    scope: str | None = None
    min_confidence: float = 0.0
    include_contradicted: bool = False
    include_expired: bool = False
    after: str | None = None
    attested: bool | None = None
    garden_id: str | None = None  # the garden's id (the route resolves the URI)
    limit: int = 50
    before_seq: int | None = None


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a cursor stands for; 400 ``invalid_cursor`` for anything we did not issue."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        match = _CURSOR_RE.fullmatch(text)
        if match is None:
            raise ValueError(cursor)
        seq = int(match[1])
        if seq > _MAX_SEQ:  # SQLite integers are 64-bit; a larger value would be a 500
            raise ValueError(cursor)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise BadRequest(
            {"code": "invalid_cursor", "message": "cursor is not one this node issued"}
        ) from None
    return seq


def parse_after(after: str) -> str:
    try:
        return format_ts(parse_ts(after))
    except ValueError:
        raise BadRequest(
            {"code": "invalid_timestamp", "message": "after must be an ISO 8601 timestamp"}
        ) from None


def _rivals_index(q: FactQuery) -> str:
    """Where the contradiction rule looks up rivals of the facts ``q`` walks: next to them."""
    return RELATION_INDEX if q.entity is None and q.relation is not None else TRIPLE_INDEX


def _where(q: FactQuery, view: ReadView) -> tuple[str, dict[str, Any]]:
    clauses = [
        acl_sql("f"),
        "NOT EXISTS (SELECT 1 FROM fact_retractions x WHERE x.fact_id = f.id)",
    ]
    params: dict[str, Any] = view.params()
    for column in ("entity", "relation", "source", "scope"):
        value = getattr(q, column)
        if value is not None:
            clauses.append(f"f.{column} = :{column}")
            params[column] = value
    if q.min_confidence > 0:
        clauses.append("f.confidence >= :min_confidence")
        params["min_confidence"] = q.min_confidence
    if not q.include_expired:
        clauses.append(not_expired_sql("f"))
    if q.after is not None:
        clauses.append("f.timestamp > :after")
        params["after"] = q.after
    if q.garden_id is not None:
        clauses.append("f.garden_id = :garden_id")
        params["garden_id"] = q.garden_id
    if q.attested is not None:
        clauses.append(
            "f.attested_key_id IS NOT NULL" if q.attested else "f.attested_key_id IS NULL"
        )
    if not q.include_contradicted:
        clauses.append(f"NOT {beaten_sql('f', _rivals_index(q))}")
    return " AND ".join(clauses), params


def _source(q: FactQuery, *, counting: bool) -> str:
    """The ``FROM`` of the page or of the count of ``q``."""
    # With an entity, the triple index is always the right one; without statistics (or with
    # stale ones) SQLite was seen walking every fact of the relation instead (100x slower).
    if q.entity is not None:
        return f"facts f INDEXED BY {TRIPLE_INDEX}"
    # A count by relation checks the rules on every fact of it: from the index that holds
    # what they read, never the table (migration 0009). The planner cannot see that the index
    # covers the count (the rules name columns only a rival's rare check reads), so it is
    # named. A source has an index of its own, usually narrower than a relation.
    if counting and q.relation is not None and q.source is None:
        return f"facts f INDEXED BY {RELATION_INDEX}"
    return "facts f"


def query_facts_txn(
    cur: Cursor, q: FactQuery, view: ReadView
) -> tuple[list[dict[str, Any]], int, str | None]:
    """One page (newest first), the total matching the filters, and the next cursor."""
    where, params = _where(q, view)
    page_where = where
    page_params = dict(params, limit=q.limit + 1)
    if q.before_seq is not None:
        page_where += " AND f.seq < :before_seq"
        page_params["before_seq"] = q.before_seq
    rows = cur.execute(
        f"{_SELECT_FROM[_rivals_index(q)]}{_source(q, counting=False)} WHERE {page_where}"
        " ORDER BY f.seq DESC LIMIT :limit",
        page_params,
    ).fetchall()
    if q.before_seq is None and len(rows) <= q.limit:
        total = len(rows)  # a first page that is not full holds every match (same snapshot)
    else:
        count = f"SELECT COUNT(*) FROM {_source(q, counting=True)} WHERE {where}"
        total = int(cur.execute(count, params).fetchone()[0])
    cursor = None
    if len(rows) > q.limit:
        rows = rows[: q.limit]
        cursor = encode_cursor(rows[-1][0])
    return [to_record(r) for r in rows], total, cursor
