"""SQL for recall. Every candidate query carries the caller's garden ACL and the liveness
rules, so nothing the caller may not read (or that is retracted, expired or beaten by a
preferred contradicting fact) is ever scored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.db import Cursor
from stigmem_node.facts.rules import COLUMNS, beaten_sql, contradicted_sql, live_sql, to_record
from stigmem_node.facts.visibility import ReadView, acl_sql
from stigmem_node.recall.text import Term

# The facts of a JSON list of entities, each probing the triple index (as lint does).
BY_ENTITY = (
    "json_each(:entities) AS e CROSS JOIN facts f INDEXED BY facts_triple ON f.entity = e.value"
)
# Above this many matching documents, rank only the newest matches (bounded latency).
RANK_ALL_BELOW = 5_000
# A term in more than 1/COMMON_SHARE of the facts (and at least COMMON_MIN_DOCS) is common.
COMMON_SHARE = 20
COMMON_MIN_DOCS = 1000


@dataclass(frozen=True, slots=True)
class Candidate:
    seq: int
    record: dict[str, Any]
    bm25: float = 0.0  # full-text rank (BM25 / PostgreSQL's ts_rank): higher is better


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


def search_plan(cur: Cursor, terms: list[Term]) -> tuple[list[tuple[str, bool, int]], bool, int]:
    """The terms worth searching for, and whether to rank all their matches.

    Terms in no document are dropped. Terms in a large share of the store (``user``,
    ``agent``) are left out of the search while rarer ones remain: they would make the
    search visit most of the index and rank nothing better (coverage still counts them).
    When even the kept terms match a great many documents, only the newest matches are
    ranked, which bounds the cost of one query. Returns the kept terms (with their document
    counts), whether to rank all matches, and about how many documents there are.
    """
    total = int(cur.execute("SELECT COALESCE(MAX(seq), 0) FROM facts").fetchone()[0])
    common = max(COMMON_MIN_DOCS, total // COMMON_SHARE)
    index = cur.dialect.fulltext
    # Counting may stop above ``common``: such a term is common whatever its exact count.
    counts = {t.stem: index.doc_count(cur, t.stem, t.prefix, common) for t in terms}
    present = [t for t in terms if counts[t.stem] > 0]
    if not present:
        return [], False, total
    rare = [t for t in present if counts[t.stem] <= common]
    kept = rare or [min(present, key=lambda t: counts[t.stem])]
    rank_all = sum(counts[t.stem] for t in kept) < RANK_ALL_BELOW
    return [(t.stem, t.prefix, counts[t.stem]) for t in kept], rank_all, total


def lexical_txn(
    cur: Cursor, view: ReadView, flt: Filter, terms: list[Term], limit: int, complete: bool
) -> list[Candidate] | None:
    """Up to ``limit`` visible live facts matching the terms, best first. None, when
    ``complete``, if the full-text index lags behind the facts of this snapshot (the
    caller drains the backlog, ``recall.indexer``, and asks again)."""
    if complete and cur.dialect.fulltext.backlog(cur) > 0:
        return None
    kept, rank_all, total = search_plan(cur, terms)
    if not kept:
        return []
    where, params = _where(view, flt)
    hits_sql, hits_params = cur.dialect.fulltext.hits(where, rank_all, kept, total)
    params.update(hits_params, limit=limit)
    # Rank (and filter) on the index first; build full records for the winners only.
    rows = cur.execute(
        f"{_select()}, hit.rank_score FROM ({hits_sql}) AS hit JOIN facts f ON f.seq = hit.seq",
        params,
    ).fetchall()
    return [Candidate(row[0], to_record(row[:-1]), float(row[-1])) for row in rows]


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
        f" ORDER BY f.confidence DESC, f.seq DESC) AS pos FROM {BY_ENTITY} WHERE {where})"
        " AS ranked WHERE pos <= :per_entity",
        params,
    ).fetchall()
    return [Candidate(row[0], to_record(row[:-1])) for row in rows]
