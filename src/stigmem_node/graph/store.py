"""SQL for graph edges. ``*_txn`` functions take a cursor and never commit."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from stigmem_node.db import Cursor
from stigmem_node.facts.rules import live_sql
from stigmem_node.facts.uri import InvalidEntityURI, normalise_uri
from stigmem_node.facts.visibility import ReadView, acl_sql


@dataclass(frozen=True, slots=True)
class Edge:
    subject: str
    relation: str
    target: str  # normalised like an entity
    confidence: float
    fact_id: str


@dataclass(frozen=True, slots=True)
class EdgeFilter:
    scope: str
    min_confidence: float
    upto_seq: int | None = None  # a snapshot: ignore facts written after it


def _where(view: ReadView, flt: EdgeFilter) -> tuple[str, dict[str, object]]:
    clauses = [
        "f.value_type = 'ref'",
        "f.scope = :scope",
        "f.confidence >= :min_confidence",
        acl_sql("f"),
        live_sql("f"),
    ]
    params: dict[str, object] = {
        **view.params(), "scope": flt.scope, "min_confidence": flt.min_confidence,
    }  # fmt: skip
    if flt.upto_seq is not None:
        clauses.append("f.seq <= :upto")
        params["upto"] = flt.upto_seq
    return " AND ".join(clauses), params


def _edges(rows: list[tuple[str, str, str, str, float]]) -> list[Edge]:
    edges = []
    for fact_id, subject, relation, value_v, confidence in rows:
        try:
            target = normalise_uri(value_v)
        except InvalidEntityURI:
            continue
        edges.append(Edge(subject, relation, target, float(confidence), fact_id))
    return edges


def out_edges_txn(cur: Cursor, view: ReadView, flt: EdgeFilter, entities: list[str]) -> list[Edge]:
    """Live edges leaving ``entities`` that the caller may see."""
    where, params = _where(view, flt)
    params["entities"] = orjson.dumps(entities).decode()
    rows = cur.execute(
        "SELECT f.id, f.entity, f.relation, f.value_v, f.confidence FROM facts f"
        f" WHERE f.entity IN (SELECT value FROM json_each(:entities)) AND {where}",
        params,
    ).fetchall()
    return _edges(rows)


def in_edges_txn(cur: Cursor, view: ReadView, flt: EdgeFilter, entities: list[str]) -> list[Edge]:
    """Live edges arriving at ``entities`` that the caller may see.

    The index holds SQLite's ``lower(value_v)`` (ASCII case folding); the exact match is the
    normalised target, checked here.
    """
    where, params = _where(view, flt)
    params["targets"] = orjson.dumps(entities).decode()
    rows = cur.execute(
        "SELECT f.id, f.entity, f.relation, f.value_v, f.confidence FROM facts f"
        f" WHERE lower(f.value_v) IN (SELECT lower(value) FROM json_each(:targets)) AND {where}",
        params,
    ).fetchall()
    wanted = set(entities)
    return [edge for edge in _edges(rows) if edge.target in wanted]


def max_seq_txn(cur: Cursor) -> int:
    return int(cur.execute("SELECT COALESCE(MAX(seq), 0) FROM facts").fetchone()[0])
