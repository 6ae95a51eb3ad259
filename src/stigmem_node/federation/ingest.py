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

A rejected fact is skipped, never retried and never blocks its page (reference B1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from stigmem_node.clock import format_ts
from stigmem_node.db import Cursor
from stigmem_node.facts.store import (
    NewFact,
    WriteContext,
    insert_row_txn,
    live_duplicate_txn,
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


@dataclass(slots=True)
class _Held:
    """Ids (with their CIDs) and CIDs of this page already in the store, found with two set
    queries instead of two lookups per fact, and kept up to date as the page is written."""

    ids: dict[str, str | None]
    cids: set[str]

    @classmethod
    def load(cls, cur: Cursor, facts: list[NewFact]) -> _Held:
        ids = orjson.dumps([f.id for f in facts]).decode()
        cids = orjson.dumps(sorted({f.cid for f in facts})).decode()
        id_rows = cur.execute(
            "SELECT id, cid FROM facts WHERE id IN (SELECT value FROM json_each(?))", (ids,)
        ).fetchall()
        cid_rows = cur.execute(
            "SELECT DISTINCT cid FROM facts WHERE cid IN (SELECT value FROM json_each(?))", (cids,)
        ).fetchall()
        return cls(dict(id_rows), {row[0] for row in cid_rows})


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
    return fact.cid in held.cids and live_duplicate_txn(cur, fact, now) is not None


def _provenance(fact: NewFact, sender: str, ctx: WriteContext) -> NewFact:
    """The ``(fact id, stigmem:received_from, ref sender)`` meta-fact, upstream's shape."""
    return NewFact(entity=fact.id, relation="stigmem:received_from", value_type="ref",
                   value_v=sender, source=ctx.system_source, confidence=1.0, scope="local",
                   writer=ctx.system_source)  # fmt: skip


def _write_one(
    cur: Cursor,
    ctx: WriteContext,
    batch: IngestBatch,
    item: Incoming,
    now: str,
    result: IngestResult,
    held: _Held,
) -> None:
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
    insert_row_txn(cur, ctx, fact, timestamp=item.timestamp)
    insert_row_txn(cur, ctx, _provenance(fact, batch.sender, ctx))
    result.conflicts += len(write_effects_txn(cur, ctx, fact, now))
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
