"""Audit retention: the one path that may delete audit rows, and it records that it did.

The audit log is append-only (migration 0002): a DELETE of an audit row aborts unless the same
transaction has opened the single-row ``audit_prune_window`` and the row is older than the
window's horizon. ``prune_chunk_txn`` opens the window, deletes the oldest rows (in ``seq``
order) older than the horizon, writes an ``audit_pruned`` event naming the horizon and the
range deleted, and closes the window, all in one transaction: other connections never see it
open, and a failure rolls everything back. Pruning runs in chunks so that the writer thread is
never held for long; each chunk records its own event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from stigmem_node.audit.log import record_txn
from stigmem_node.clock import format_ts
from stigmem_node.db import Cursor

PRUNE_ACTOR = "system:audit-retention"


def horizon_for(now: datetime, retention_days: int) -> str:
    """Rows with ``ts`` strictly before this are past retention."""
    return format_ts(now - timedelta(days=retention_days))


def prune_chunk_txn(cur: Cursor, horizon: str, now: str, chunk: int) -> int:
    """Delete up to ``chunk`` of the oldest rows older than ``horizon``; return how many."""
    cur.execute("DELETE FROM audit_prune_window")  # never left open, but be certain
    cur.execute("INSERT INTO audit_prune_window (id, horizon) VALUES (1, ?)", (horizon,))
    span = cur.execute(
        "SELECT MIN(seq), MAX(seq), COUNT(*) FROM (SELECT seq, ts FROM audit_log"
        " ORDER BY seq LIMIT ?) AS oldest WHERE ts < ?",
        (chunk, horizon),
    ).fetchone()
    deleted = 0
    if span[2]:
        deleted = cur.execute(
            "DELETE FROM audit_log WHERE seq BETWEEN ? AND ? AND ts < ?",
            (span[0], span[1], horizon),
        ).rowcount
    cur.execute("DELETE FROM audit_prune_window")
    if deleted:
        record_txn(
            cur,
            now,
            "audit_pruned",
            entity_uri=PRUNE_ACTOR,
            detail={
                "horizon": horizon,
                "deleted": deleted,
                "first_seq": span[0],
                "last_seq": span[1],
            },
        )
    return deleted


def close_stale_window_txn(cur: Cursor) -> int:
    """At start-up: a window can only be open inside a prune transaction, never committed."""
    return cur.execute("DELETE FROM audit_prune_window").rowcount
