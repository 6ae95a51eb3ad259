"""SQLite storage with one writer thread doing group commit, and per-thread readers.

``await db.write(desc, fn, *args)`` queues ``fn(cursor, *args)`` for the writer thread. The
writer drains every write waiting in its queue into one transaction and one fsync, running each
item inside its own savepoint so that a failing item rolls back alone and never fails its
neighbours; then it answers every caller. ``await db.read(desc, fn, *args)`` runs ``fn`` on a
reader thread with its own connection. ``_txn`` functions never commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from stigmem_node.db.migrate import apply_migrations

log = logging.getLogger("stigmem.db")

T = TypeVar("T")
Cursor = sqlite3.Cursor

_STOP = object()


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of the node."""


@dataclass(slots=True)
class _Write:
    desc: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any] | concurrent.futures.Future[Any]
    loop: asyncio.AbstractEventLoop | None


def _connect(path: Path, synchronous: str, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, cached_statements=256
    )
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    # No "temp_store = MEMORY": with it, statement journals live in memory and every insert
    # that fires the full-text trigger gets slower as the index grows (measured: 500-fact
    # transactions went from 0.15 s to 1.5 s within 10 000 facts; flat without it).
    conn.execute("PRAGMA cache_size = -32000")
    conn.execute("PRAGMA mmap_size = 268435456")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


class Database:
    """The node's SQLite database (WAL, ``synchronous=FULL`` unless relaxed)."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "full",
        batch_max: int = 256,
        read_threads: int = 4,
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._read_threads = read_threads
        self._read_pool = self._new_read_pool()
        self._writer: threading.Thread | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._read_pool_closed = False
        self.commits = 0
        self.items_committed = 0

    def _new_read_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self._read_threads, thread_name_prefix="stigmem-read")

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        """Create the file if needed, migrate, and start the writer thread.

        A closed database may be opened again (a node's lifespan can run more than once).
        """
        if self._writer is not None:
            raise RuntimeError("database is already open")
        if self._read_pool_closed:
            self._read_pool = self._new_read_pool()
            self._read_pool_closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path, self._synchronous)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("could not enable WAL (journal_mode=%s)", mode)
        apply_migrations(conn)
        with contextlib.suppress(OSError):
            self.path.chmod(0o600)
        self._writer_conn = conn
        self._writer = threading.Thread(target=self._write_loop, name="stigmem-writer", daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Finish queued writes, stop the writer, close every connection."""
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
            self._writer = None
        self._read_pool.shutdown(wait=True)
        self._read_pool_closed = True
        self._local = threading.local()  # forget per-thread connections closed below
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        if self._writer_conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._writer_conn.execute("PRAGMA optimize")
            self._writer_conn.close()
            self._writer_conn = None

    # -- public API ----------------------------------------------------------------------
    async def write(self, desc: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(cursor, *args)`` in the next group-commit transaction."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Write(desc, fn, args, future, loop))
        return await future

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """The same as ``write`` for synchronous callers (start-up, CLI)."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Write(fn.__name__, fn, args, future, None))
        return future.result()

    async def read(self, desc: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(cursor, *args)`` on a reader connection (committed data only)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, self._run_read, fn, args)

    def read_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """The same as ``read`` for synchronous callers (CLI, start-up)."""
        return self._run_read(fn, args)

    # -- readers -------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._synchronous, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _run_read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._reader()
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            return fn(cur, *args)
        finally:
            cur.execute("COMMIT")
            cur.close()

    # -- writer --------------------------------------------------------------------------
    def _write_loop(self) -> None:
        assert self._writer_conn is not None
        conn = self._writer_conn
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Write] = [first]
            while len(batch) < self._batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit_batch(conn, batch)

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        cur = conn.cursor()
        started = time.perf_counter()
        try:
            cur.execute("BEGIN IMMEDIATE")
            for item in batch:
                outcomes.append(self._run_item(cur, item))
            cur.execute("COMMIT")
            self.commits += 1
            self.items_committed += sum(1 for ok, _ in outcomes if ok)
        except Exception as exc:  # the transaction itself failed: every item fails with it
            log.exception("group commit of %d item(s) failed", len(batch))
            with contextlib.suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
            outcomes = [(False, exc)] * len(batch)
        finally:
            cur.close()
        elapsed = time.perf_counter() - started
        if elapsed > 1.0:
            log.warning("slow group commit: %d item(s) in %.3fs", len(batch), elapsed)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Write, bool, Any]]] = {}
        for item, (ok, value) in zip(batch, outcomes, strict=True):
            if item.loop is None:
                _deliver([(item, ok, value)])
            else:
                by_loop.setdefault(item.loop, []).append((item, ok, value))
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop already closed: nobody waits
                loop.call_soon_threadsafe(_deliver, results)

    @staticmethod
    def _run_item(cur: sqlite3.Cursor, item: _Write) -> tuple[bool, Any]:
        cur.execute("SAVEPOINT item")
        try:
            result = item.fn(cur, *item.args)
        except BaseException as exc:  # the writer thread must outlive any item
            cur.execute("ROLLBACK TO item")
            cur.execute("RELEASE item")
            if not isinstance(exc, Exception):
                log.error("write %r raised %r; reported to its caller", item.desc, exc)
                return False, RuntimeError(f"write {item.desc!r} aborted: {exc!r}")
            return False, exc
        cur.execute("RELEASE item")
        return True, result


def _deliver(results: list[tuple[_Write, bool, Any]]) -> None:
    for item, ok, value in results:
        if item.future.done():  # the caller went away (cancelled request)
            continue
        if ok:
            item.future.set_result(value)
        else:
            item.future.set_exception(value)
