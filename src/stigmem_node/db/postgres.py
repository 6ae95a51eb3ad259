"""The PostgreSQL engine (psycopg 3): one writer connection, a pool of readers.

Several node processes may share one database, so every write transaction first takes one
transaction-level advisory lock (``COMMIT_LOCK_KEY``) and holds it until it commits: write
transactions of all processes run one after another, exactly as SQLite's ``BEGIN IMMEDIATE``
makes them. That is what keeps the rest of the code correct across processes:

* the commit sequence (``facts.seq``, also ``audit_log``, ``conflicts``,
  ``federation_audit``) is drawn under the lock, so sequence order is commit order and a
  reader that has seen ``seq = n`` committed can never later see a smaller one appear (a
  plain SEQUENCE would not do: transactions commit out of the order they draw numbers). The
  tables' insert triggers take the same lock, so even a writer that bypasses this module
  cannot break the order;
* the HLC: the writer reads the newest committed fact's HLC under the lock
  (``Database.on_write_begin``) before ticking, so HLC order follows commit order across
  processes;
* every check-then-write in the stores (idempotent asserts, contradiction detection, unique
  slugs, nonce replay, one-off bootstrap) sees every earlier write, whoever made it.

Group commit still applies within each process, so the lock is taken once per batch. Reads
run in REPEATABLE READ, read-only transactions on pooled connections: one snapshot per read,
like SQLite's read transactions.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import IsolationLevel
from psycopg_pool import ConnectionPool, PoolTimeout

from stigmem_node.db.dialect import Cursor, Dialect
from stigmem_node.db.fulltext import TsVector
from stigmem_node.db.migrate import apply_migrations
from stigmem_node.db.sqltext import to_postgres
from stigmem_node.errors import Unavailable

log = logging.getLogger("stigmem.db")

T = TypeVar("T")

POSTGRES = Dialect(name="postgres", fulltext=TsVector(), migration_suffix="postgres.sql")
# The commit-order lock; the same number is written in the migrations' insert triggers.
COMMIT_LOCK_KEY = 0x5354_494D_434F_4D54  # "STIMCOMT"
WRITE_ATTEMPTS = 3
LOST = {"code": "database_unavailable", "message": "the database is unavailable"}
UNCERTAIN = {
    "code": "database_unavailable",
    "message": "the database connection was lost while committing; the write may or may not"
    " have been applied",
}


class PgCursor:
    """A psycopg cursor taking SQLite-style SQL (rewritten once per statement text)."""

    dialect = POSTGRES

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cur = cursor

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return None  # PostgreSQL has no rowid; use RETURNING

    def execute(self, sql: str, parameters: Any = (), /) -> PgCursor:
        self._cur.execute(to_postgres(sql), parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Sequence[Any], /) -> PgCursor:
        self._cur.executemany(to_postgres(sql), seq_of_parameters)
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)

    def close(self) -> None:
        self._cur.close()


def redact(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


CONNECT_TIMEOUT_S = 10  # a server that does not answer is unavailable, not a hang


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection with the node's session settings."""
    return psycopg.connect(
        url,
        autocommit=autocommit,
        application_name="stigmem-node",
        connect_timeout=CONNECT_TIMEOUT_S,
    )


def _configure_reader(conn: psycopg.Connection[Any]) -> None:
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True


class PostgresEngine:
    """The node's PostgreSQL database, possibly shared with other node processes."""

    dialect = POSTGRES
    path = None

    def __init__(
        self, url: str, *, pool_size: int = 4, open_timeout_s: float = 30.0, wait_s: float = 5.0
    ) -> None:
        self.url = url
        self._pool_size = pool_size
        self._timeout = open_timeout_s  # for the pool's first connection, at start-up
        self._wait_s = wait_s  # for a free (or new) reader connection, per read
        self._writer: psycopg.Connection[Any] | None = None
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None

    def describe(self) -> str:
        return f"PostgreSQL {redact(self.url)}"

    def open(self) -> None:
        """Migrate (under the migration lock), open the writer and the reader pool."""
        try:
            with connect(self.url, autocommit=True) as conn:
                apply_migrations(conn, POSTGRES)
            self._writer = connect(self.url)
        except psycopg.OperationalError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RuntimeError(f"cannot open {self.describe()}: {detail}") from None
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"application_name": "stigmem-node", "connect_timeout": CONNECT_TIMEOUT_S},
            configure=_configure_reader,
            open=False,
            name="stigmem-read",
        )
        self._pool.open(wait=True, timeout=self._timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- writing (the writer thread only) ------------------------------------------------
    def transaction(self, body: Callable[[PgCursor], T]) -> T:
        """Run ``body`` in one write transaction holding the commit lock, and commit.

        A transaction that fails before its commit because the connection broke, or because
        PostgreSQL chose it as a deadlock or serialization victim, is run again (``body``
        runs again from the start) on a fresh connection. Raises ``Unavailable`` when the
        database stays unreachable, or when the connection broke during the commit itself
        (the outcome is then unknown).
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            conn = self._writer_connection()
            committing = False
            try:
                with conn.cursor() as raw:
                    cur = PgCursor(raw)
                    cur.execute("SELECT pg_advisory_xact_lock(?)", (COMMIT_LOCK_KEY,))
                    result = body(cur)
                    committing = True
                    conn.commit()
                return result
            except psycopg.OperationalError as exc:
                if not self._recover(conn, exc, committing, attempt):
                    raise
            except BaseException:
                self._rollback(conn)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _recover(
        self, conn: psycopg.Connection[Any], exc: psycopg.OperationalError, committing: bool,
        attempt: int,
    ) -> bool:  # fmt: skip
        """After ``exc``: True to try again; False to re-raise it. Raises ``Unavailable``."""
        broken = conn.broken or conn.closed
        if broken:
            self._discard_writer()
        else:
            self._rollback(conn)
        retryable = broken or isinstance(exc, psycopg.errors.TransactionRollback)
        if not retryable:
            return False
        if committing and broken:
            log.error("database connection lost during commit: %s", exc)
            raise Unavailable(UNCERTAIN) from exc
        if attempt == WRITE_ATTEMPTS:
            raise Unavailable(LOST) from exc
        log.warning("write transaction failed (%s); trying again", exc)
        return True

    def _writer_connection(self) -> psycopg.Connection[Any]:
        if self._writer is None or self._writer.closed:
            try:
                self._writer = connect(self.url)
            except psycopg.OperationalError as exc:
                log.error("cannot connect to %s: %s", self.describe(), exc)
                raise Unavailable(LOST) from exc
        return self._writer

    def _discard_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(psycopg.Error):
                self._writer.close()
            self._writer = None

    @staticmethod
    def _rollback(conn: psycopg.Connection[Any]) -> None:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()

    # -- reading (any thread) ------------------------------------------------------------
    def read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``fn(cursor, *args)`` in one REPEATABLE READ, read-only transaction.

        Reads change nothing, so a read that lost its connection is run once more on
        another one; ``Unavailable`` when that fails too or no connection can be had.
        """
        assert self._pool is not None, "engine is not open"
        for attempt in (1, 2):
            try:
                with self._pool.connection(self._wait_s) as conn, conn.cursor() as raw:
                    return fn(PgCursor(raw), *args)
            except PoolTimeout as exc:
                raise Unavailable(LOST) from exc
            except psycopg.OperationalError as exc:
                if not _is_connection_error(exc):
                    raise
                if attempt == 2:
                    raise Unavailable(LOST) from exc
                log.warning("read lost its database connection (%s); trying again", exc)
        raise AssertionError("unreachable")  # pragma: no cover


def _is_connection_error(exc: psycopg.OperationalError) -> bool:
    sqlstate = exc.sqlstate or ""
    return not sqlstate or sqlstate.startswith(("08", "57P"))


def _is_a_cursor(cur: PgCursor) -> Cursor:
    return cur  # mypy: PgCursor satisfies the Cursor protocol
