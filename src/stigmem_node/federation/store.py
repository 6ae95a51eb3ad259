"""SQL of the federation feature: peers, replication cursors, nonces, federation audit.

``*_txn`` functions take a cursor, run inside a transaction and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.audit.log import record_txn
from stigmem_node.db import Cursor

PEER_COLUMNS = (
    "id, node_id, node_url, federation_pubkey, allowed_scopes, status, status_reason,"
    " established_at, declaration_sig, signed_at, created_at"
)


@dataclass(frozen=True, slots=True)
class PeerRow:
    id: str
    node_id: str
    node_url: str
    federation_pubkey: str
    allowed_scopes: tuple[str, ...]
    status: str
    status_reason: str | None
    established_at: str | None
    declaration_sig: str
    signed_at: str
    created_at: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> PeerRow:
        values = list(row)
        values[4] = tuple(orjson.loads(values[4]))
        return cls(*values)

    def to_wire(self) -> dict[str, Any]:
        """Upstream's peer list item (plus the fingerprint, for out-of-band comparison)."""
        from stigmem_node.federation.keys import fingerprint

        return {
            "peer_id": self.id,
            "node_id": self.node_id,
            "node_url": self.node_url,
            "status": self.status,
            "allowed_scopes": list(self.allowed_scopes),
            "established_at": self.established_at,
            "pubkey_fingerprint": fingerprint(self.federation_pubkey),
        }


# -- peers -----------------------------------------------------------------------------------
def get_peer_txn(cur: Cursor, peer_id: str) -> PeerRow | None:
    row = cur.execute(f"SELECT {PEER_COLUMNS} FROM peers WHERE id = ?", (peer_id,)).fetchone()
    return PeerRow.from_row(row) if row else None


def get_peer_by_node_id_txn(cur: Cursor, node_id: str) -> PeerRow | None:
    row = cur.execute(f"SELECT {PEER_COLUMNS} FROM peers WHERE node_id = ?", (node_id,)).fetchone()
    return PeerRow.from_row(row) if row else None


def list_peers_txn(cur: Cursor, status: str | None = None) -> list[PeerRow]:
    if status is None:
        rows = cur.execute(f"SELECT {PEER_COLUMNS} FROM peers ORDER BY created_at, id")
    else:
        rows = cur.execute(
            f"SELECT {PEER_COLUMNS} FROM peers WHERE status = ? ORDER BY created_at, id",
            (status,),
        )
    return [PeerRow.from_row(row) for row in rows.fetchall()]


def insert_peer_txn(cur: Cursor, peer: PeerRow, registered_by: str | None) -> None:
    cur.execute(
        f"INSERT INTO peers ({PEER_COLUMNS}, registered_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            peer.id,
            peer.node_id,
            peer.node_url,
            peer.federation_pubkey,
            orjson.dumps(sorted(peer.allowed_scopes)).decode(),
            peer.status,
            peer.status_reason,
            peer.established_at,
            peer.declaration_sig,
            peer.signed_at,
            peer.created_at,
            registered_by,
        ),
    )


def set_peer_status_txn(
    cur: Cursor,
    peer_id: str,
    status: str,
    *,
    expect: str | None = None,
    reason: str | None = None,
    established_at: str | None = None,
) -> bool:
    """Move a peer to ``status`` (only from ``expect`` when given); False if nothing moved."""
    sql = "UPDATE peers SET status = ?, status_reason = ?, established_at = ? WHERE id = ?"
    params: list[Any] = [status, reason, established_at, peer_id]
    if expect is not None:
        sql += " AND status = ?"
        params.append(expect)
    return cur.execute(sql, params).rowcount == 1


def delete_peer_txn(cur: Cursor, peer_id: str) -> None:
    cur.execute("DELETE FROM replication_cursors WHERE peer_id = ?", (peer_id,))
    cur.execute("DELETE FROM peers WHERE id = ?", (peer_id,))


# -- replication state -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReplicationState:
    cursor: str | None = None
    failures: int = 0
    retry_at: str | None = None
    last_error: str | None = None


def get_state_txn(cur: Cursor, peer_id: str, direction: str) -> ReplicationState:
    row = cur.execute(
        "SELECT cursor, failures, retry_at, last_error FROM replication_cursors"
        " WHERE peer_id = ? AND direction = ?",
        (peer_id, direction),
    ).fetchone()
    return ReplicationState(*row) if row else ReplicationState()


def save_cursor_txn(cur: Cursor, peer_id: str, direction: str, cursor: str, now: str) -> bool:
    """Store the cursor and clear the backoff; False when the peer no longer exists."""
    if cur.execute("SELECT 1 FROM peers WHERE id = ?", (peer_id,)).fetchone() is None:
        return False
    cur.execute(
        "INSERT INTO replication_cursors (peer_id, direction, cursor, failures, retry_at,"
        " last_error, updated_at) VALUES (?, ?, ?, 0, NULL, NULL, ?)"
        " ON CONFLICT (peer_id, direction) DO UPDATE SET cursor = excluded.cursor,"
        " failures = 0, retry_at = NULL, last_error = NULL, updated_at = excluded.updated_at",
        (peer_id, direction, cursor, now),
    )
    return True


def save_failure_txn(
    cur: Cursor, peer_id: str, direction: str, failures: int, retry_at: str, error: str, now: str
) -> None:
    if cur.execute("SELECT 1 FROM peers WHERE id = ?", (peer_id,)).fetchone() is None:
        return
    cur.execute(
        "INSERT INTO replication_cursors (peer_id, direction, cursor, failures, retry_at,"
        " last_error, updated_at) VALUES (?, ?, NULL, ?, ?, ?, ?)"
        " ON CONFLICT (peer_id, direction) DO UPDATE SET failures = excluded.failures,"
        " retry_at = excluded.retry_at, last_error = excluded.last_error,"
        " updated_at = excluded.updated_at",
        (peer_id, direction, failures, retry_at, error[:500], now),
    )


# -- nonces ----------------------------------------------------------------------------------
def remember_nonce_txn(
    cur: Cursor, issuer: str, nonce: str, expires_ms: int, now_ms: int, prune: bool
) -> bool:
    """Record a nonce; False when this issuer already used it (a replay)."""
    if prune:
        cur.execute("DELETE FROM nonce_cache WHERE expires_ms < ?", (now_ms,))
    cur.execute(
        "INSERT INTO nonce_cache (issuer, nonce, expires_ms) VALUES (?, ?, ?)"
        " ON CONFLICT (issuer, nonce) DO NOTHING",
        (issuer, nonce, expires_ms),
    )
    return cur.rowcount == 1


# -- audit -----------------------------------------------------------------------------------
def audit_txn(
    cur: Cursor,
    ts: str,
    event_type: str,
    peer_id: str | None,
    detail: dict[str, Any] | None,
    *,
    node_id: str | None = None,
) -> None:
    """Append to the federation audit and mirror into the node's audit log (``federation.*``
    events, ``entity_uri`` = the peer's node id when known)."""
    cur.execute(
        "INSERT INTO federation_audit (id, peer_id, event_type, detail, ts) VALUES (?,?,?,?,?)",
        (
            str(uuid.uuid4()),
            peer_id,
            event_type,
            orjson.dumps(detail).decode() if detail is not None else None,
            ts,
        ),
    )
    record_txn(cur, ts, f"federation.{event_type}", entity_uri=node_id or peer_id, detail=detail)


def list_audit_txn(
    cur: Cursor, peer_id: str | None, event_type: str | None, before_seq: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first; returns the entries and the seq to continue below (None at the end)."""
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if peer_id is not None:
        clauses.append("peer_id = ?")
        params.append(peer_id)
    if event_type is not None:
        clauses.append("event_type = ?")
        params.append(event_type)
    if before_seq is not None:
        clauses.append("seq < ?")
        params.append(before_seq)
    rows = cur.execute(
        "SELECT seq, id, peer_id, event_type, detail, ts FROM federation_audit"
        f" WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
        (*params, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        {
            "id": row[1],
            "peer_id": row[2],
            "event_type": row[3],
            "detail": orjson.loads(row[4]) if row[4] else None,
            "ts": row[5],
        }
        for row in rows
    ]
    return entries, (rows[-1][0] if more and rows else None)
