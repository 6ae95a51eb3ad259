"""Graph traversal: breadth-first over live ``ref`` edges, inside the caller's garden ACL.

``neighbors`` answers ``GET /v1/graph/neighbors``: every entity reachable within ``depth``
hops (at most 3), each reported once at its shortest distance, in a deterministic order
(hops, then edge confidence descending, then entity), paged with an opaque cursor. A cursor
pins the set of facts that existed when the first page was served, and resumes after the
last neighbor it returned, so pages never skip or repeat a neighbor; it expires after
``CURSOR_TTL_S`` seconds (400 ``cursor_expired``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.auth.caller import Caller
from stigmem_node.clock import Clock
from stigmem_node.db import Database
from stigmem_node.errors import BadRequest
from stigmem_node.facts.service import FactService
from stigmem_node.facts.visibility import ReadView
from stigmem_node.graph import store
from stigmem_node.graph.store import Edge, EdgeFilter

MAX_DEPTH = 3
CURSOR_TTL_S = 300.0
MAX_REACHED = 10_000  # entities one traversal may report
_BATCH = 500  # entities per edge query

Fetch = Callable[[list[str]], Awaitable[list[Edge]]]


@dataclass(frozen=True, slots=True)
class Reached:
    entity: str
    relation: str
    hops: int
    confidence: float
    path: tuple[str, ...]

    def key(self) -> tuple[int, float, str]:
        return (self.hops, -self.confidence, self.entity)


def relation_matcher(relation_filter: str | None) -> Callable[[str], bool]:
    """Comma-separated exact relations or ``prefix*`` globs (never a regex)."""
    if not relation_filter:
        return lambda _: True
    exact, prefixes = set(), []
    for part in (p.strip() for p in relation_filter.split(",")):
        if part.endswith("*"):
            prefixes.append(part[:-1])
        elif part:
            exact.add(part)
    return lambda relation: relation in exact or relation.startswith(tuple(prefixes))


async def traverse(
    seeds: list[str], depth: int, fetch: Fetch, keep: Callable[[Edge], bool]
) -> dict[str, Reached]:
    """Shortest-hop BFS from ``seeds``; per hop, the strongest edge decides the path."""
    reached: dict[str, Reached] = {}
    paths: dict[str, tuple[str, ...]] = dict.fromkeys(seeds, ())
    frontier = sorted(set(seeds))
    for hops in range(1, depth + 1):
        edges: list[Edge] = []
        for start in range(0, len(frontier), _BATCH):
            edges += [e for e in await fetch(frontier[start : start + _BATCH]) if keep(e)]
        edges.sort(key=lambda e: (-e.confidence, e.relation, e.subject, e.target))
        frontier = []
        for edge in edges:
            if edge.target in paths or len(reached) >= MAX_REACHED:
                continue
            via = (*paths[edge.subject], edge.subject)
            paths[edge.target] = via
            reached[edge.target] = Reached(edge.target, edge.relation, hops, edge.confidence, via)
            frontier.append(edge.target)
        if not frontier:
            break
    return reached


@dataclass(slots=True)
class GraphService:
    db: Database
    clock: Clock
    facts: FactService

    def out_fetch(self, view: ReadView, flt: EdgeFilter) -> Fetch:
        async def fetch(entities: list[str]) -> list[Edge]:
            return await self.db.read("graph_out", store.out_edges_txn, view, flt, entities)

        return fetch

    def both_fetch(self, view: ReadView, flt: EdgeFilter) -> Fetch:
        """Edges in either direction (recall treats the graph as undirected)."""

        async def fetch(entities: list[str]) -> list[Edge]:
            out = await self.db.read("graph_out", store.out_edges_txn, view, flt, entities)
            back = await self.db.read("graph_in", store.in_edges_txn, view, flt, entities)
            # An arriving edge leads back to its subject: flip it.
            return out + [Edge(e.target, e.relation, e.subject, e.confidence, e.fact_id)
                          for e in back]  # fmt: skip

        return fetch

    async def neighbors(self, caller: Caller, q: NeighborQuery) -> dict[str, Any]:
        caller.require("read")
        if q.depth > MAX_DEPTH:
            raise BadRequest(
                {"code": "graph_depth_exceeded",
                 "message": f"depth must be between 1 and {MAX_DEPTH}"}
            )  # fmt: skip
        now_s = self.clock.now().timestamp()
        page = decode_cursor(q.cursor, q.fingerprint(), now_s) if q.cursor else None
        upto = page.seq if page else await self.db.read("graph_seq", store.max_seq_txn)
        view = await self.facts.view_for(caller)
        flt = EdgeFilter(q.scope, q.min_confidence, upto)
        match = relation_matcher(q.relation_filter)
        reached = await traverse([q.entity], q.depth, self.out_fetch(view, flt),
                                 lambda e: match(e.relation))  # fmt: skip
        ordered = sorted(reached.values(), key=Reached.key)
        if page is not None:
            ordered = [r for r in ordered if r.key() > page.after]
        items, rest = ordered[: q.page_size], ordered[q.page_size :]
        offset = (page.offset if page else 0) + len(items)
        next_cursor = None
        if rest:
            issued = page.ts if page else now_s
            next_cursor = encode_cursor(_Page(offset, issued, upto, items[-1].key()), q)
        return {
            "entity": q.entity,
            "depth": q.depth,
            "neighbors": [_item(r) for r in items],
            "next_cursor": next_cursor,
            "total_hint": len(reached),
        }


@dataclass(frozen=True, slots=True)
class NeighborQuery:
    entity: str
    scope: str
    depth: int = 1
    relation_filter: str | None = None
    min_confidence: float = 0.1
    min_trust: float = 0.0
    page_size: int = 20
    cursor: str | None = None

    def fingerprint(self) -> str:
        """Ties a cursor to the query it pages through."""
        parts = [self.entity, self.scope, self.depth, self.relation_filter, self.min_confidence]
        return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:16]


def _item(r: Reached) -> dict[str, Any]:
    # Source trust is not scored on this node yet: reported as null (the wire allows it).
    return {"entity": r.entity, "relation": r.relation, "hops": r.hops,
            "confidence": r.confidence, "source_trust": None, "path": list(r.path)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Page:
    offset: int
    ts: float
    seq: int
    after: tuple[int, float, str]


def encode_cursor(page: _Page, q: NeighborQuery) -> str:
    body = {"offset": page.offset, "ts": page.ts, "seq": page.seq, "after": list(page.after),
            "q": q.fingerprint()}  # fmt: skip
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str, now_s: float) -> _Page:
    """The page a cursor stands for; 400 ``invalid_cursor`` / ``cursor_expired``."""
    page = None
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        hops, neg_conf, entity = body["after"]
        if body["q"] == fingerprint:
            page = _Page(int(body["offset"]), float(body["ts"]), int(body["seq"]),
                         (int(hops), float(neg_conf), str(entity)))  # fmt: skip
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
        page = None
    if page is None or page.offset < 0 or page.seq < 0:
        raise BadRequest(
            {
                "code": "invalid_cursor",
                "message": "cursor is not one this node issued for this query",
            }
        )
    if not 0 <= now_s - page.ts <= CURSOR_TTL_S:
        raise BadRequest(
            {"code": "cursor_expired",
             "message": f"cursor is older than {int(CURSOR_TTL_S)} s; start again without it"}
        )  # fmt: skip
    return page
