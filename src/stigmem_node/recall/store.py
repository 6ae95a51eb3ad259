"""SQL for recall. Every candidate query carries the caller's garden ACL and the liveness
rules, so nothing the caller may not read (or that is retracted, expired or beaten by a
preferred contradicting fact) is ever scored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.db import Cursor
from stigmem_node.facts.store import COLUMNS, beaten_sql, contradicted_sql, live_sql, to_record
from stigmem_node.facts.visibility import ReadView, acl_sql

# Entity, relation and value columns of facts_fts: the value says the most.
_BM25 = "bm25(facts_fts, 1.0, 0.5, 1.0)"
# Above this many matching documents, rank only the newest matches (bounded latency).
RANK_ALL_BELOW = 20_000


@dataclass(frozen=True, slots=True)
class Candidate:
    seq: int
    record: dict[str, Any]
    bm25: float = 0.0  # higher is better (SQLite's bm25 is negated)


@dataclass(frozen=True, slots=True)
class Filter:
    scope: str
    min_confidence: float


def _where(view: ReadView, flt: Filter) -> tuple[str, dict[str, Any]]:
    clauses = [
        "f.scope = :scope",
        "f.reserved = 0",
        "f.confidence >= :min_confidence",
        acl_sql("f"),
        live_sql("f"),
        f"NOT {beaten_sql('f')}",
    ]
    params = {**view.params(), "scope": flt.scope, "min_confidence": flt.min_confidence}
    return " AND ".join(clauses), params


def _select() -> str:
    return f"SELECT {COLUMNS}, {contradicted_sql('f')} AS contradicted"


def match_count_txn(cur: Cursor, stems: list[str]) -> int:
    """An upper bound of the documents the terms match (per-term document counts summed)."""
    total = 0
    for stem in stems:
        row = cur.execute(
            "SELECT COALESCE(SUM(doc), 0) FROM facts_fts_vocab WHERE term >= ? AND term < ?",
            (stem, stem + "\U0010ffff"),
        ).fetchone()
        total += int(row[0])
    return total


def lexical_txn(
    cur: Cursor, view: ReadView, flt: Filter, fts_query: str, limit: int, stems: list[str]
) -> list[Candidate]:
    """Up to ``limit`` visible live facts matching ``fts_query``, best BM25 first.

    When the terms match a large part of the store, the newest ``limit`` matches are ranked
    instead of all of them, which keeps one query's cost bounded.
    """
    where, params = _where(view, flt)
    params.update(q=fts_query, limit=limit)
    order = "rank_score" if match_count_txn(cur, stems) < RANK_ALL_BELOW else "f.seq DESC"
    rows = cur.execute(
        f"{_select()}, {_BM25} AS rank_score FROM facts_fts"
        f" JOIN facts f ON f.seq = facts_fts.rowid"
        f" WHERE facts_fts MATCH :q AND {where} ORDER BY {order} LIMIT :limit",
        params,
    ).fetchall()
    return [Candidate(row[0], to_record(row[:-1]), -float(row[-1])) for row in rows]


def entity_facts_txn(
    cur: Cursor, view: ReadView, flt: Filter, entities: list[str], per_entity: int
) -> list[Candidate]:
    """The ``per_entity`` strongest (confidence, then newest) facts of each entity."""
    if not entities:
        return []
    where, params = _where(view, flt)
    params.update(entities=orjson.dumps(entities).decode(), per_entity=per_entity)
    rows = cur.execute(
        f"SELECT * FROM ({_select()}, ROW_NUMBER() OVER (PARTITION BY f.entity"
        " ORDER BY f.confidence DESC, f.seq DESC) AS pos FROM facts f"
        f" WHERE f.entity IN (SELECT value FROM json_each(:entities)) AND {where})"
        " WHERE pos <= :per_entity",
        params,
    ).fetchall()
    return [Candidate(row[0], to_record(row[:-1])) for row in rows]
