"""The SQLite engine: one file, WAL, one writer connection, a connection per reader thread."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from stigmem_node.db.dialect import Cursor, Dialect
from stigmem_node.db.fulltext import Fts5
from stigmem_node.db.migrate import apply_migrations

log = logging.getLogger("stigmem.db")

T = TypeVar("T")

# An inline read looks at its budget every _PROGRESS_STEPS virtual-machine steps, and only
# once it has taken _INLINE_MIN_STEPS: a query by entity takes ~2 000 (10 facts, 1 000 000
# stored), a fact by id ~120, a page by relation over 18 000 facts ~1 000 000 (~30 ms).
_PROGRESS_STEPS = 1000
_INLINE_MIN_STEPS = 10_000

SQLITE = Dialect(name="sqlite", fulltext=Fts5(), migration_suffix="sqlite.sql")


class ReadTooLong(Exception):
    """An inline read ran past its budget (``SqliteEngine.read_inline``); run it elsewhere."""


class SqliteCursor(sqlite3.Cursor):
    """``sqlite3.Cursor`` that names its dialect (SQL runs exactly as written)."""

    dialect = SQLITE


def connect(
    path: Path,
    synchronous: str,
    *,
    readonly: bool = False,
    cache_mb: int = 16,
    mmap_mb: int = 32,
) -> sqlite3.Connection:
    """A connection with the node's settings (autocommit: transactions are explicit)."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, cached_statements=256
    )
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    # Per connection (one writer + one per reader thread): these bound the node's memory.
    conn.execute(f"PRAGMA cache_size = {-1024 * int(cache_mb)}")
    conn.execute(f"PRAGMA mmap_size = {1024 * 1024 * int(mmap_mb)}")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _private_files(path: Path) -> None:
    """The database and its -wal/-shm files readable by the node's user only.

    SQLite creates -wal and -shm with the database file's mode, so the file is created 0600
    before SQLite first opens it (the WAL holds fact data too); existing files are tightened.
    """
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):
            name.chmod(0o600)


class SqliteEngine:
    """WAL, ``synchronous=FULL`` unless relaxed; writers exclude each other with
    ``BEGIN IMMEDIATE`` (also across processes sharing the file)."""

    dialect = SQLITE

    def __init__(
        self, path: Path, synchronous: str = "full", *, cache_mb: int = 16, mmap_mb: int = 32
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.cache_mb = cache_mb
        self.mmap_mb = mmap_mb
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def describe(self) -> str:
        return f"SQLite {self.path}"

    def open(self) -> None:
        """Create the file if needed, switch it to WAL, migrate."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _private_files(self.path)
        conn = connect(self.path, self.synchronous, cache_mb=self.cache_mb, mmap_mb=self.mmap_mb)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("could not enable WAL (journal_mode=%s)", mode)
        try:
            apply_migrations(conn, SQLITE)
        except BaseException:
            conn.close()
            raise
        _private_files(self.path)
        # The writer runs every item of a group commit in its own savepoint, so each page an
        # earlier item dirtied is copied to the sub-journal again by every later item that
        # touches it. In a temporary file that was half of the writer's system calls (about 64
        # writes and 140 KB per asserted fact in commits of 16); in memory it is a copy, and
        # bounded by one transaction's pages.
        conn.execute("PRAGMA temp_store = MEMORY")
        self._writer = conn

    def close(self) -> None:
        self._local = threading.local()  # forget per-thread connections closed below
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        if self._writer is not None:
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA optimize")
            self._writer.close()
            self._writer = None

    # -- writing (the writer thread only) ------------------------------------------------
    def transaction(self, body: Callable[[SqliteCursor], T]) -> T:
        """Run ``body`` in one ``BEGIN IMMEDIATE`` transaction and commit it."""
        assert self._writer is not None, "engine is not open"
        cur = self._writer.cursor(SqliteCursor)
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                result = body(cur)
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise
            return result
        finally:
            cur.close()

    # -- reading (any thread) ------------------------------------------------------------
    def read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``fn(cursor, *args)`` in a read transaction (one consistent snapshot)."""
        cur = self._reader().cursor(SqliteCursor)
        cur.execute("BEGIN")
        try:
            return fn(cur, *args)
        finally:
            cur.execute("COMMIT")
            cur.close()

    def read_inline(self, fn: Callable[..., T], args: tuple[Any, ...], budget_s: float) -> T:
        """``read`` on the calling thread, abandoned with ``ReadTooLong`` once it has run for
        ``budget_s`` and SQLite has done real work on it (``_INLINE_MIN_STEPS`` virtual-machine
        steps: time spent waiting for the interpreter lock alone never moves a point lookup).

        For the event loop's small reads: a point lookup costs less than handing it to a
        reader thread and waking the loop again, and never waits for the interpreter lock
        behind the loop's own work. A read that turns out to be big stops early (nothing
        was written: it is a read transaction) and the caller runs it on a reader thread.
        """
        conn = self._reader(inline=True)
        deadline = time.perf_counter() + budget_s
        checks = 0

        def over_budget() -> bool:
            nonlocal checks
            checks += 1
            return checks * _PROGRESS_STEPS >= _INLINE_MIN_STEPS and time.perf_counter() > deadline

        cur = conn.cursor(SqliteCursor)
        cur.execute("BEGIN")
        conn.set_progress_handler(over_budget, _PROGRESS_STEPS)
        try:
            return fn(cur, *args)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc) and checks * _PROGRESS_STEPS >= _INLINE_MIN_STEPS:
                raise ReadTooLong from None
            raise
        finally:
            conn.set_progress_handler(None, 0)
            cur.execute("COMMIT")
            cur.close()

    def _reader(self, inline: bool = False) -> sqlite3.Connection:
        """This thread's read connection (``inline``: the one for ``read_inline``, without a
        memory map: it reads a few pages per lookup, mostly from its own page cache, and a
        map would count up to ``mmap_mb`` more of the file in the node's RSS)."""
        attr = "inline_conn" if inline else "conn"
        conn: sqlite3.Connection | None = getattr(self._local, attr, None)
        if conn is None:
            conn = connect(
                self.path,
                self.synchronous,
                readonly=True,
                cache_mb=self.cache_mb,
                mmap_mb=0 if inline else self.mmap_mb,
            )
            setattr(self._local, attr, conn)
            with self._readers_lock:
                self._readers.append(conn)
        return conn


def _is_a_cursor(cur: SqliteCursor) -> Cursor:
    return cur  # mypy: SqliteCursor satisfies the Cursor protocol
