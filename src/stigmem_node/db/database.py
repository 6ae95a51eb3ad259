"""The node's database: one writer thread doing group commit, reads on worker threads.

``await db.write(desc, fn, *args)`` queues ``fn(cursor, *args)`` for the writer thread. The
writer drains every write waiting in its queue into one transaction and one commit, running
each item inside its own savepoint so that a failing item rolls back alone and never fails its
neighbours; then it answers every caller.

A write queued with ``replayable=True`` (``fn`` touches nothing but the database, so running
it again after a rollback is harmless) runs without a savepoint: on the hot path that saves two
statements per item (two round trips on PostgreSQL). Should one of them raise, the whole
transaction is rolled back and the group runs again, every item in its own savepoint, so the
failure still stays with its item. ``await db.read(desc, fn, *args)`` runs ``fn`` on a
reader thread in a read transaction (``small=True``: on SQLite, on the calling thread within a
budget, see ``read``). ``_txn`` functions never commit.

The engine (``db.sqlite`` or ``db.postgres``) owns connections and transactions; this module
is the same for both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from stigmem_node.db.dialect import Cursor, Dialect
from stigmem_node.db.migrate import SchemaTooNew
from stigmem_node.db.sqlite import ReadTooLong, SqliteEngine
from stigmem_node.db.sqlite import connect as _connect
from stigmem_node.db.stream import WriteStream

if TYPE_CHECKING:
    from stigmem_node.config import Settings

log = logging.getLogger("stigmem.db")

T = TypeVar("T")

_STOP = object()

__all__ = ["Database", "Engine", "SchemaTooNew", "WriteStream", "_connect"]


class Engine(Protocol):
    """What ``Database`` needs of an engine (``SqliteEngine``, ``PostgresEngine``)."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def path(self) -> Path | None: ...

    def describe(self) -> str: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def transaction(self, body: Callable[[Any], T]) -> T: ...

    def read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T: ...


@dataclass(slots=True)
class _Write:
    desc: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any] | concurrent.futures.Future[Any]
    loop: asyncio.AbstractEventLoop | None
    replayable: bool = False
    many: Callable[[Cursor, list[tuple[Any, ...]]], list[Any]] | None = None


class _Replay(Exception):
    """A replayable item failed outside a savepoint: run the group again, isolated."""


class Database:
    """The node's database on SQLite (a path) or on any ``Engine``."""

    def __init__(
        self,
        target: Path | Engine,
        *,
        synchronous: str = "full",
        batch_max: int = 256,
        read_threads: int = 4,
        inline_read_s: float = 0.001,
    ) -> None:
        self.engine: Engine = (
            SqliteEngine(target, synchronous) if isinstance(target, Path) else target
        )
        self._batch_max = batch_max
        self._inline_read_s = inline_read_s
        self.inline_overruns = 0  # small reads that ran past their budget inline
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._read_threads = read_threads
        self._read_pool = self._new_read_pool()
        self._writer: threading.Thread | None = None
        self._read_pool_closed = False
        self.commits = 0
        self.items_committed = 0
        self.replays = 0  # groups run again, isolated, after a replayable item failed
        self.grouped = 0  # writes that ran as part of a ``many`` call
        # Called with the write cursor at the start of every write transaction, before its
        # items (the node syncs its HLC with what other processes committed).
        self.on_write_begin: Callable[[Cursor], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """PostgreSQL when ``STIGMEM_DATABASE_URL`` is set, else the SQLite file."""
        engine: Engine
        if settings.database_url:
            from stigmem_node.db.postgres import PostgresEngine  # psycopg only when used

            engine = PostgresEngine(settings.database_url, pool_size=settings.read_threads)
        else:
            engine = SqliteEngine(
                settings.db_path,
                settings.sqlite_synchronous,
                cache_mb=settings.sqlite_cache_mb,
                mmap_mb=settings.sqlite_mmap_mb,
            )
        return cls(
            engine,
            batch_max=settings.write_batch_max,
            read_threads=settings.read_threads,
            inline_read_s=settings.read_inline_ms / 1000,
        )

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    @property
    def path(self) -> Path | None:
        """The SQLite file (None on PostgreSQL)."""
        return self.engine.path

    def _new_read_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self._read_threads, thread_name_prefix="stigmem-read")

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        """Migrate and start the writer thread. Raises ``SchemaTooNew``.

        A closed database may be opened again (a node's lifespan can run more than once).
        """
        if self._writer is not None:
            raise RuntimeError("database is already open")
        if self._read_pool_closed:
            self._read_pool = self._new_read_pool()
            self._read_pool_closed = False
        self.engine.open()
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
        self.engine.close()

    # -- public API ----------------------------------------------------------------------
    async def write(
        self,
        desc: str,
        fn: Callable[..., T],
        *args: Any,
        replayable: bool = False,
        many: Callable[[Cursor, list[tuple[Any, ...]]], list[T]] | None = None,
    ) -> T:
        """Run ``fn(cursor, *args)`` in the next group-commit transaction.

        ``replayable``: ``fn`` has no effect outside the database and may run twice; ``many``
        (implies ``replayable``) runs several such writes in one call (see the module's
        docstring)."""
        return await self.submit(desc, fn, *args, replayable=replayable, many=many)

    def submit(
        self,
        desc: str,
        fn: Callable[..., T],
        *args: Any,
        replayable: bool = False,
        many: Callable[[Cursor, list[tuple[Any, ...]]], list[T]] | None = None,
    ) -> asyncio.Future[T]:
        """``write``, queued now (call on the event loop): the future of its result.

        For a caller with more to do before it waits: the writer starts on this write while
        the caller goes on (writes run in the order they were queued)."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Write(desc, fn, args, future, loop, replayable or many is not None, many))
        return future

    def stream(
        self,
        desc: str,
        fn: Callable[..., T],
        first: Any,
        *args: Any,
        timeout_s: float = 30.0,
    ) -> WriteStream:
        """Queue ``fn(cursor, parts, *args)`` with ``first`` as its first part; the caller
        then ``put``s the others and ``end``s it (see ``WriteStream``). The result is
        ``await stream.result``."""
        stream = WriteStream(timeout_s)
        stream.put(first)

        def run(cur: Cursor) -> T:
            return fn(cur, stream.parts(), *args)

        stream._result = self.submit(desc, run)
        return stream

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """The same as ``write`` for synchronous callers (start-up, CLI)."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Write(fn.__name__, fn, args, future, None))
        return future.result()

    async def read(self, desc: str, fn: Callable[..., T], *args: Any, small: bool = False) -> T:
        """Run ``fn(cursor, *args)`` in a read transaction (committed data only).

        ``small``: usually a point lookup. On SQLite it is then tried on the calling thread
        first, within ``inline_read_s`` of SQLite's work, and handed to a reader thread only
        if it runs past that (see ``SqliteEngine.read_inline``)."""
        if small and self._inline_read_s > 0 and isinstance(self.engine, SqliteEngine):
            try:
                return self.engine.read_inline(fn, args, self._inline_read_s)
            except ReadTooLong:
                self.inline_overruns += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, self.engine.read, fn, args)

    def read_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """The same as ``read`` for synchronous callers (CLI, start-up)."""
        return self.engine.read(fn, args)

    # -- writer --------------------------------------------------------------------------
    def _write_loop(self) -> None:
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
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Write]) -> None:
        started = time.perf_counter()

        def body(cur: Cursor, isolate: bool) -> list[tuple[bool, Any]]:
            if self.on_write_begin is not None:
                self.on_write_begin(cur)
            if isolate:
                return [self._run_item(cur, item, True) for item in batch]
            return self._run_grouped(cur, batch)

        try:
            try:
                outcomes = self.engine.transaction(lambda cur: body(cur, False))
            except _Replay:
                self.replays += 1
                outcomes = self.engine.transaction(lambda cur: body(cur, True))
            self.commits += 1
            self.items_committed += sum(1 for ok, _ in outcomes if ok)
        except Exception as exc:  # the transaction itself failed: every item fails with it
            log.exception("group commit of %d item(s) failed", len(batch))
            outcomes = [(False, exc)] * len(batch)
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

    def _run_grouped(self, cur: Cursor, batch: list[_Write]) -> list[tuple[bool, Any]]:
        """Every item, those sharing a ``many`` function in one call (at the first's turn)."""
        members: dict[Callable[..., Any], list[int]] = {}
        for i, item in enumerate(batch):
            if item.many is not None:
                members.setdefault(item.many, []).append(i)
        outcomes: list[tuple[bool, Any] | None] = [None] * len(batch)
        for i, item in enumerate(batch):
            if outcomes[i] is not None:
                continue
            group = members.get(item.many) if item.many is not None else None
            if item.many is None or group is None or len(group) == 1:
                outcomes[i] = self._run_item(cur, item, False)
                continue
            try:
                results = item.many(cur, [batch[j].args for j in group])
            except BaseException as exc:
                raise _Replay(item.desc) from exc
            for j, result in zip(group, results, strict=True):
                outcomes[j] = (True, result)
            self.grouped += len(group)
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    def _run_item(cur: Cursor, item: _Write, isolate: bool) -> tuple[bool, Any]:
        if item.replayable and not isolate:
            try:
                return True, item.fn(cur, *item.args)
            except BaseException as exc:
                raise _Replay(item.desc) from exc
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
