"""SQL for API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.db import Cursor

_COLS = (
    "id, key_digest, key_hash, entity_uri, permissions, description, created_at, expires_at,"
    " oidc_sub, tenant_id"
)


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    key_digest: str
    key_hash: str
    entity_uri: str
    permissions: list[str]
    description: str | None
    created_at: str
    expires_at: str | None
    oidc_sub: str | None
    tenant_id: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> KeyRow:
        values = list(row)
        values[4] = orjson.loads(values[4])
        return cls(*values)


def get_key_by_digest_txn(cur: Cursor, digest: str) -> KeyRow | None:
    row = cur.execute(f"SELECT {_COLS} FROM api_keys WHERE key_digest = ?", (digest,)).fetchone()
    return KeyRow.from_row(row) if row else None


def get_key_txn(cur: Cursor, key_id: str) -> KeyRow | None:
    row = cur.execute(f"SELECT {_COLS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    return KeyRow.from_row(row) if row else None


def count_keys_txn(cur: Cursor) -> int:
    return int(cur.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0])


def digest_exists_txn(cur: Cursor, digest: str) -> bool:
    return (
        cur.execute("SELECT 1 FROM api_keys WHERE key_digest = ?", (digest,)).fetchone() is not None
    )


def insert_key_txn(cur: Cursor, key: KeyRow) -> None:
    cur.execute(
        f"INSERT INTO api_keys ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            key.id, key.key_digest, key.key_hash, key.entity_uri,
            orjson.dumps(sorted(key.permissions)).decode(), key.description, key.created_at,
            key.expires_at, key.oidc_sub, key.tenant_id,
        ),
    )  # fmt: skip


def list_keys_for_txn(cur: Cursor, entity_uri: str, now: str) -> list[KeyRow]:
    rows = cur.execute(
        f"SELECT {_COLS} FROM api_keys WHERE entity_uri = ?"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at, id",
        (entity_uri, now),
    ).fetchall()
    return [KeyRow.from_row(r) for r in rows]


def list_expiring_txn(cur: Cursor, now: str, until: str) -> list[KeyRow]:
    rows = cur.execute(
        f"SELECT {_COLS} FROM api_keys WHERE expires_at IS NOT NULL"
        " AND expires_at > ? AND expires_at <= ? ORDER BY expires_at, id",
        (now, until),
    ).fetchall()
    return [KeyRow.from_row(r) for r in rows]


def replace_hash_txn(cur: Cursor, key_id: str, old_hash: str, new_hash: str) -> bool:
    """Swap a key's hash if it is still ``old_hash`` (another process may have rehashed it)."""
    cur.execute(
        "UPDATE api_keys SET key_hash = ? WHERE id = ? AND key_hash = ?",
        (new_hash, key_id, old_hash),
    )
    return cur.rowcount == 1


def delete_key_txn(cur: Cursor, key_id: str) -> None:
    cur.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))


def list_all_keys_txn(cur: Cursor) -> list[KeyRow]:
    rows = cur.execute(f"SELECT {_COLS} FROM api_keys ORDER BY created_at, id").fetchall()
    return [KeyRow.from_row(r) for r in rows]
