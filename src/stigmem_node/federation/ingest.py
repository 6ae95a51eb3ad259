"""Ingest: every fact a peer sends (pulled or pushed) is checked, then written idempotently.

Facts are first checked one by one (``validate.check_page``, pure; a bad fact gets a stable
reason). ``ingest_txn`` then writes one page in one transaction: it deduplicates by id
and by content (assert's CID idempotency rule), inserts the rest with their provenance, adds the
``stigmem:received_from`` meta-fact, runs the retraction/contradiction effects of the facts
write path, audits every rejection and the batch, and (for pulls) stores the page's cursor in
the same transaction, so a cursor never runs ahead of the facts it covers. While a backlog
drains, ``ingest_pages_txn`` writes several consecutive pages in one transaction (each page
checked, deduplicated and audited as on its own): a commit costs a WAL sync and, often, a
checkpoint, so fewer, larger commits replicate a big store much faster.

The page is written as fast as the store allows without changing what one-by-one writes
would do. Three set queries find which of its ids, CIDs and (entity, relation, scope) triples
the store already holds. A fact on a triple that holds no fact (in the store or earlier in the
page) can be no duplicate, retract nothing, arrive retracted by nothing and contradict
nothing, so its row and its meta-fact's row are only queued, and inserted with the next ones
by one ``executemany``; any other fact flushes the queue first and takes the full path
(duplicate check, retraction and contradiction effects). Rows are computed in order, so
``seq`` and HLC order are those of one-by-one writes. Replicating a store of new facts is then
two row inserts per fact and almost nothing else (``tests/federation/test_ingest_effects.py``
holds the two ways to the same result).

A rejected fact is skipped, never retried and never blocks its page (reference B1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from stigmem_node.clock import format_ts
from stigmem_node.db import Cursor
from stigmem_node.facts.store import (
    INSERT_SQL,
    NewFact,
    WriteContext,
    live_duplicate_txn,
    row_params,
    write_effects_txn,
)
from stigmem_node.federation import store
from stigmem_node.federation.validate import Incoming, Rejection


@dataclass(slots=True)
class IngestBatch:
    """One page (or push) from one peer, checked, ready for ``ingest_txn``."""

    peer_id: str
    sender: str
    local_node_id: str
    direction: str  # "pull" or "push"
    incoming: list[Incoming]
    rejections: list[Rejection]
    cursor: str | None = None  # pulls: the page's cursor, saved with the facts


@dataclass(slots=True)
class IngestResult:
    accepted: list[str] = field(default_factory=list)
    duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    conflicts: int = 0
    team: int = 0  # team facts accepted (audit-logged: STIGMEM_FEDERATION_ALLOW_TEAM)
    cursor_saved: bool = False


# Triples per lookup query (three parameters each; far below either engine's limit).
_CHUNK = 500
Triple = tuple[str, str, str]  # entity, relation, scope


@dataclass(slots=True)
class _Held:
    """What the store holds of this page, found with set queries instead of lookups per fact,
    and kept up to date as the page is written: the page's ids already stored (with their
    CIDs), its CIDs already stored, and its (entity, relation, scope) triples that hold any
    fact. ``rows`` are fact rows computed but not yet inserted (one ``executemany``)."""

    ids: dict[str, str | None]
    cids: set[str]
    triples: set[Triple]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def load(cls, cur: Cursor, facts: list[NewFact]) -> _Held:
        ids = orjson.dumps([f.id for f in facts]).decode()
        id_rows = cur.execute(
            "SELECT id, cid FROM facts WHERE id IN (SELECT value FROM json_each(?))", (ids,)
        ).fetchall()
        triples = _stored_triples(cur, facts)
        # A CID covers the triple: only a fact on a stored triple can have a stored CID.
        maybe = sorted({f.cid for f in facts if (f.entity, f.relation, f.scope) in triples})
        cid_rows = (
            cur.execute(
                "SELECT DISTINCT cid FROM facts WHERE cid IN (SELECT value FROM json_each(?))",
                (orjson.dumps(maybe).decode(),),
            ).fetchall()
            if maybe
            else []
        )
        return cls(dict(id_rows), {row[0] for row in cid_rows}, triples)

    def flush(self, cur: Cursor) -> None:
        """Insert the pending rows (before anything reads the store)."""
        if self.rows:
            cur.executemany(INSERT_SQL, self.rows)
            self.rows.clear()


def _stored_triples(cur: Cursor, facts: list[NewFact]) -> set[Triple]:
    """The facts' triples on which the store holds at least one fact (one index seek each)."""
    triples = sorted({(f.entity, f.relation, f.scope) for f in facts})
    found: set[Triple] = set()
    for start in range(0, len(triples), _CHUNK):
        chunk = triples[start : start + _CHUNK]
        rows = cur.execute(
            f"WITH t (e, r, s) AS (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))})"
            " SELECT t.e, t.r, t.s FROM t WHERE EXISTS (SELECT 1 FROM facts g"
            " INDEXED BY facts_triple WHERE g.entity = t.e AND g.relation = t.r"
            " AND g.scope = t.s)",
            [part for triple in chunk for part in triple],
        ).fetchall()
        found.update((e, r, s) for e, r, s in rows)
    return found


def _known(
    cur: Cursor, batch: IngestBatch, fact: NewFact, now: str, held: _Held
) -> Rejection | bool:
    """Whether we hold ``fact`` already (by id, or by content as an assert would decide),
    or why it must be refused (its id taken by other content; an origin here we never had)."""
    if fact.id in held.ids:
        if held.ids[fact.id] == fact.cid:
            return True
        return Rejection(fact.id, "id_collision", "a different fact already has this id")
    if fact.origin_node_id == batch.local_node_id:
        return Rejection(fact.id, "forged_origin", "claims to originate here but is unknown here")
    # Same content is only possible when the CID is already stored.
    if fact.cid not in held.cids:
        return False
    held.flush(cur)
    return live_duplicate_txn(cur, fact, now) is not None


def _write_one(
    cur: Cursor,
    ctx: WriteContext,
    batch: IngestBatch,
    item: Incoming,
    now: str,
    result: IngestResult,
    held: _Held,
) -> None:
    """Write one fact and its provenance meta-fact, in the order (``seq``, HLC) and with the
    effects of writing them one by one. A fact whose triple holds no other fact can neither
    retract, be retracted, nor contradict (``write_effects_txn`` would find nothing): its rows
    wait in ``held.rows`` to be inserted with the next ones."""
    fact = item.fact
    known = _known(cur, batch, fact, now, held)
    if isinstance(known, Rejection):
        result.rejections.append(known)
        return
    if known:
        result.duplicates += 1
        return
    if item.observe_hlc is not None:
        ctx.hlc.observe(item.observe_hlc)
    held.rows.append(row_params(ctx, fact, item.timestamp)[3])
    held.rows.append(row_params(ctx, item.provenance, now)[3])
    triple = (fact.entity, fact.relation, fact.scope)
    if triple in held.triples:
        held.flush(cur)
        result.conflicts += len(write_effects_txn(cur, ctx, fact, now))
    else:
        held.triples.add(triple)
    result.accepted.append(fact.id)
    result.team += fact.scope == "team"
    held.ids[fact.id] = fact.cid
    held.cids.add(fact.cid)


def ingest_txn(cur: Cursor, ctx: WriteContext, batch: IngestBatch) -> IngestResult:
    """Write one checked page; audit rejections and the batch; save the pull cursor."""
    now = format_ts(ctx.clock.now())
    result = IngestResult(rejections=list(batch.rejections))
    held = _Held.load(cur, [item.fact for item in batch.incoming])
    for item in batch.incoming:
        _write_one(cur, ctx, batch, item, now, result, held)
    held.flush(cur)
    for rejection in result.rejections:
        detail = {
            "fact_id": rejection.fact_id,
            "reason": rejection.reason,
            "message": rejection.message,
            "direction": batch.direction,
            **rejection.detail,
        }
        store.audit_txn(cur, now, rejection.event, batch.peer_id, detail, node_id=batch.sender)
    if result.accepted or result.rejections:
        store.audit_txn(
            cur,
            now,
            "batch_accepted",
            batch.peer_id,
            {
                "direction": batch.direction,
                "accepted": len(result.accepted),
                "duplicates": result.duplicates,
                "rejected": len(result.rejections),
                "conflicts": result.conflicts,
                "team_facts": result.team,
                "cursor": batch.cursor,
            },
            node_id=batch.sender,
        )
    if batch.cursor is not None:
        result.cursor_saved = store.save_cursor_txn(
            cur, batch.peer_id, "inbound", batch.cursor, now
        )
    return result


def ingest_pages_txn(
    cur: Cursor, ctx: WriteContext, batches: list[IngestBatch]
) -> list[IngestResult]:
    """Write consecutive pages of one peer, in order, in one transaction (all or none).

    Each page is deduplicated against the store as its predecessors left it, audited and
    has its cursor saved after its facts, so the last cursor saved covers every page."""
    return [ingest_txn(cur, ctx, batch) for batch in batches]
