"""Numbered schema migrations, applied at start-up and recorded in ``schema_migrations``.

One tree for both engines: ``migrations/NNNN_name.sql`` is applied by every engine, unless an
engine has its own ``NNNN_name.<engine>.sql`` (``sqlite`` / ``postgres``) for that number,
which it applies instead. Every engine therefore sees the same numbers and names, and records
them the same way. A database whose highest recorded version is above the highest the code
ships was written by a newer node: we refuse to start rather than guess.

Several processes may start at once on one database: each migration runs in its own
transaction under a lock that excludes the others (``BEGIN IMMEDIATE`` on SQLite, a
transaction-level advisory lock on PostgreSQL) and checks again, inside it, whether it is
still needed.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stigmem_node.db.dialect import Dialect

log = logging.getLogger("stigmem.db")

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(sqlite|postgres))?\.sql$")
ENGINES = ("sqlite", "postgres")
# pg_advisory_xact_lock key serialising migrations (any fixed 64-bit number of our own).
MIGRATE_LOCK_KEY = 0x5354_494D_4D49_4752  # "STIMMIGR"
_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of the node."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    file: str


def known_migrations(engine: str = "sqlite") -> list[Migration]:
    """The migrations ``engine`` applies, in order. Raises ``RuntimeError`` if the tree is
    inconsistent (a number twice, two names for one number, a number one engine lacks)."""
    files: dict[int, dict[str | None, tuple[str, Any]]] = {}
    for entry in resources.files("stigmem_node.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        variants = files.setdefault(int(match[1]), {})
        if match[3] in variants:
            raise RuntimeError(f"duplicate migration files for {match[1]}: {entry.name}")
        variants[match[3]] = (match[2], entry)
    found = []
    for version in sorted(files):
        variants = files[version]
        names = {name for name, _ in variants.values()}
        if len(names) != 1:
            raise RuntimeError(f"migration {version:04d} has several names: {sorted(names)}")
        for other in ENGINES:
            if None not in variants and other not in variants:
                raise RuntimeError(f"migration {version:04d} has no file for {other}")
        name, entry = variants.get(engine) or variants[None]
        found.append(Migration(version, name, entry.read_text("utf-8"), entry.name))
    return found


def apply_migrations(conn: Any, dialect: Dialect) -> list[int]:
    """Apply every unapplied migration, each in its own transaction; return those applied.

    ``conn`` is a ``sqlite3.Connection`` in autocommit mode or a psycopg connection.
    """
    migrations = known_migrations(dialect.name)
    runner = _PostgresRunner(conn) if dialect.is_postgres else _SqliteRunner(conn)
    newest = migrations[-1].version if migrations else 0
    done = []
    for migration in migrations:
        with runner.locked() as cur:
            applied = {row[0] for row in cur.execute("SELECT version FROM schema_migrations")}
            if applied and max(applied) > newest:
                raise SchemaTooNew(
                    f"database schema version {max(applied)} is newer than this node knows"
                    f" ({newest}); upgrade the node"
                )
            if migration.version in applied:
                continue
            log.info("applying migration %s", migration.file)
            runner.run_script(cur, migration.sql)
            cur.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)"
                f" VALUES ({runner.mark}, {runner.mark}, {runner.mark})",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
        done.append(migration.version)
    return done


class _SqliteRunner:
    mark = "?"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def locked(self) -> _SqliteTxn:
        return _SqliteTxn(self.conn)

    @staticmethod
    def run_script(cur: Any, sql: str) -> None:
        for statement in _statements(sql):
            cur.execute(statement)


class _SqliteTxn:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Cursor:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(_CREATE_TABLE)
        return self.conn.cursor()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


class _PostgresRunner:
    mark = "%s"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def locked(self) -> Any:
        return _PostgresTxn(self.conn)

    @staticmethod
    def run_script(cur: Any, sql: str) -> None:
        # One simple-query call runs the whole file (function bodies keep their semicolons).
        cur.execute(sql)


class _PostgresTxn:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.txn: Any = None

    def __enter__(self) -> Any:
        self.txn = self.conn.transaction()
        self.txn.__enter__()
        cur = self.conn.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK_KEY,))
        cur.execute(_CREATE_TABLE)
        return cur

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.txn.__exit__(exc_type, exc, tb)


def _statements(sql: str) -> list[str]:
    """Split a SQLite script into complete statements (trigger bodies contain semicolons)."""
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
