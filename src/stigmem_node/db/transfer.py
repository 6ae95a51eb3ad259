"""Copy a SQLite node into PostgreSQL, losslessly, and prove it (``stigmem migrate --to``).

The node keeps its identity: every table is copied row for row (node id and federation keys,
facts with their commit sequence numbers and HLCs, API keys, agent keys, gardens, peers and
replication cursors, nonces, both audit logs, jobs), except what is rebuilt or means nothing
elsewhere (the full-text index, SQLite's own tables, ``schema_migrations``, live leases).
Federation cursors that peers hold for this node stay valid because ``seq`` is kept.

* Both databases are first migrated to this code's schema; the copy refuses a target that
  already holds a node (facts, keys or identity).
* The source is read in one read transaction (a consistent snapshot, even if a node still
  runs on it; writes after the snapshot are not copied: stop the node first).
* The target is written in one transaction holding the commit-order lock (no node on it can
  write meanwhile), with ``stigmem.restore`` on so that explicit ``seq`` values are kept;
  the sequences then continue after the copied values.
* Before committing, every table is verified: same row count and the same SHA-256 over its
  rows in key order on both sides (facts: same ids, content, CIDs, seq and HLC). Any
  difference rolls the whole copy back.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from stigmem_node.db.postgres import COMMIT_LOCK_KEY, PostgresEngine, connect
from stigmem_node.db.sqlite import SqliteEngine

# Not copied: rebuilt by the target (its migrations, its full-text index), or live state of
# running processes.
SKIPPED = frozenset({"schema_migrations", "leases"})
# A node already lives in a target holding any of these.
OCCUPIED = ("facts", "api_keys", "node_meta")
COPY_CHUNK = 10_000


class TransferError(Exception):
    """The copy cannot start or did not verify; nothing was written. One-line message."""


@dataclass(frozen=True, slots=True)
class TableReport:
    name: str
    rows: int
    digest: str  # SHA-256 of the table's rows in key order, the same on both sides


def copy_to_postgres(
    sqlite_path: Path, url: str, progress: Callable[[str, int], None] | None = None
) -> list[TableReport]:
    """Copy the node at ``sqlite_path`` into the (empty) PostgreSQL database at ``url``."""
    if not sqlite_path.is_file():
        raise TransferError(f"no SQLite database at {sqlite_path}")
    for engine in (SqliteEngine(sqlite_path), PostgresEngine(url, pool_size=1)):
        try:
            engine.open()  # both on this code's schema
        except (psycopg.Error, RuntimeError, sqlite3.Error) as exc:  # unreachable, too new
            raise TransferError(str(exc).strip() or type(exc).__name__) from None
        finally:
            engine.close()
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True, isolation_level=None)
    try:
        source.execute("BEGIN")  # one snapshot for the whole copy
        with connect(url) as target:
            reports = _copy(source, target, progress)
            target.commit()
        return reports
    finally:
        source.close()


def _copy(
    source: sqlite3.Connection,
    target: psycopg.Connection[Any],
    progress: Callable[[str, int], None] | None,
) -> list[TableReport]:
    target.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK_KEY,))
    target.execute("SET LOCAL stigmem.restore = 'on'")
    for table in OCCUPIED:
        if target.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            raise TransferError(
                f"the target already holds a node ({table} is not empty); use an empty database"
            )
    reports = []
    for table in _tables(source):
        columns = _columns(source, table, target)
        rows = _copy_table(source, target, table, columns)
        if progress is not None:
            progress(table, rows)
        _restart_sequence(target, table, columns)
        reports.append(_verify(source, target, table, columns, _key(source, table)))
    return reports


def _tables(source: sqlite3.Connection) -> list[str]:
    """The tables to copy, each after the tables its foreign keys refer to."""
    rows = source.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ).fetchall()
    virtual = [name for name, sql in rows if str(sql).upper().startswith("CREATE VIRTUAL")]
    names = [
        name
        for name, _ in rows
        if not name.startswith("sqlite_")
        and name not in SKIPPED
        and not any(name == v or name.startswith(f"{v}_") for v in virtual)
    ]
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered or name in path:
            return
        for ref in {row[2] for row in source.execute(f"PRAGMA foreign_key_list({name})")}:
            if ref in names:
                visit(ref, (*path, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    return ordered


def _columns(source: sqlite3.Connection, table: str, target: psycopg.Connection[Any]) -> list[str]:
    mine = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    theirs = [
        row[0]
        for row in target.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s AND is_generated = 'NEVER'"
            " ORDER BY ordinal_position",
            (table,),
        )
    ]
    if sorted(mine) != sorted(theirs):
        raise TransferError(
            f"table {table} differs between the databases ({sorted(set(mine) ^ set(theirs))})"
        )
    return mine


def _key(source: sqlite3.Connection, table: str) -> list[str]:
    info = source.execute(f"PRAGMA table_info({table})").fetchall()
    key = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
    return key or [row[1] for row in info]


def _copy_table(
    source: sqlite3.Connection, target: psycopg.Connection[Any], table: str, columns: list[str]
) -> int:
    names = ", ".join(columns)
    count = 0
    with target.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in source.execute(f"SELECT {names} FROM {table}"):
            copy.write_row(row)
            count += 1
    return count


def _restart_sequence(target: psycopg.Connection[Any], table: str, columns: list[str]) -> None:
    """Numbering continues after the copied ``seq`` values."""
    if "seq" not in columns:
        return
    target.execute(
        f"SELECT setval(pg_get_serial_sequence(%s, 'seq'),"
        f" COALESCE((SELECT MAX(seq) FROM {table}), 0) + 1, false)",
        (table,),
    )


def _digest(rows: Iterable[Any]) -> tuple[int, str]:
    digest, count = hashlib.sha256(), 0
    for row in rows:
        digest.update(orjson.dumps(list(row)))
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def _verify(
    source: sqlite3.Connection,
    target: psycopg.Connection[Any],
    table: str,
    columns: list[str],
    key: list[str],
) -> TableReport:
    select = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(key)}"
    mine = _digest(source.execute(select))
    with target.cursor(name=f"verify_{table}") as cur:  # server-side: bounded memory
        cur.itersize = COPY_CHUNK
        cur.execute(select)
        theirs = _digest(cur)
    if mine != theirs:
        raise TransferError(
            f"table {table} did not verify (source {mine[0]} rows, copy {theirs[0]} rows,"
            " or their contents differ); nothing was written"
        )
    return TableReport(table, mine[0], mine[1])
