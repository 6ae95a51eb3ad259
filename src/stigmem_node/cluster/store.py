"""SQL for leases. ``*_txn`` functions take a cursor and never commit."""

from __future__ import annotations

from stigmem_node.db import Cursor

INSTANCE_PREFIX = "instance:"


def hold_txn(cur: Cursor, name: str, holder: str, now: str, until: str) -> bool:
    """Take ``name`` (free, expired or already ours) until ``until``; False if another
    holder's lease is still in force."""
    cur.execute(
        "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
        " expires_at = excluded.expires_at"
        " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
        (name, holder, until, now),
    )
    return cur.rowcount == 1


def renew_txn(cur: Cursor, names: list[str], holder: str, until: str) -> list[str]:
    """Extend the leases of ``names`` still held by ``holder``; the names it no longer holds."""
    lost = []
    for name in names:
        cur.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
            (until, name, holder),
        )
        if cur.rowcount != 1:
            lost.append(name)
    return lost


def release_txn(cur: Cursor, names: list[str], holder: str) -> None:
    for name in names:
        cur.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


def holder_txn(cur: Cursor, name: str, now: str) -> str | None:
    """Who holds ``name`` in force at ``now`` (None: nobody)."""
    row = cur.execute(
        "SELECT holder FROM leases WHERE name = ? AND expires_at > ?", (name, now)
    ).fetchone()
    return str(row[0]) if row else None


def live_instance_sql(owner_column: str) -> str:
    """SQL true when the process named by ``owner_column`` holds its instance lease at
    ``:now``."""
    return (
        "EXISTS (SELECT 1 FROM leases l"
        f" WHERE l.name = '{INSTANCE_PREFIX}' || {owner_column} AND l.expires_at > :now)"
    )
