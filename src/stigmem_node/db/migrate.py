"""Numbered schema migrations, applied at start-up and recorded in ``schema_migrations``.

Files are ``migrations/NNNN_name.sql``. A database whose highest recorded version is above the
highest file the code ships was written by a newer node: we refuse to start rather than guess.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

log = logging.getLogger("stigmem.db")

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def known_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("stigmem_node.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers: {versions}")
    return found


def apply_migrations(conn: sqlite3.Connection) -> list[int]:
    """Apply every unapplied migration, each in its own transaction; return those applied."""
    from stigmem_node.db.database import SchemaTooNew

    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    migrations = known_migrations()
    newest = migrations[-1].version if migrations else 0
    if applied and max(applied) > newest:
        raise SchemaTooNew(
            f"database schema version {max(applied)} is newer than this node knows ({newest});"
            " upgrade the node"
        )
    done = []
    for migration in migrations:
        if migration.version in applied:
            continue
        log.info("applying migration %04d_%s", migration.version, migration.name)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(migration.version)
    return done


def _statements(sql: str) -> list[str]:
    """Split a script into complete statements (trigger bodies contain semicolons)."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        if not buf and line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise RuntimeError(f"incomplete SQL statement in migration: {buf[:80]!r}")
    return out
