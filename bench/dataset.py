"""Rows exactly as the node writes them, for pre-loading big databases and for the
bare-``executemany`` ceiling, on SQLite and on PostgreSQL.

Rows are produced by the node's own code (``facts.store.insert_row_txn`` and
``audit.log.record_txn``, the inserts of every assert) run against a cursor that only
records the SQL and parameters. So the columns, encodings, CIDs, HLCs and timestamps are the
node's, and stay so when the node changes. Schemas come from the node's real migrations
(its own engines create them: ``db.Database`` on SQLite, ``db.postgres.PostgresEngine``).

On PostgreSQL the recorded SQL is rewritten by the node's own ``sqltext.to_postgres``;
pre-loading uses ``COPY`` (the same rows, defaults and insert triggers; only the round trips
are saved), the ceiling ``executemany`` (see ``ExecutemanyCeiling``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import random
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast

from bench.bodies import RELATIONS, fact_body
from bench.storage import Store
from stigmem_node.audit.log import record_txn
from stigmem_node.clock import FakeClock, format_ts
from stigmem_node.db import Cursor, Database
from stigmem_node.facts.hlc import HybridClock
from stigmem_node.facts.store import NewFact, WriteContext, insert_row_txn
from stigmem_node.facts.values import encode_v

WRITER = "agent:admin"  # the principal of the bench's admin key (bootstrap key)
SAMPLE_SIZE = 4000


def _node_attr(candidates: tuple[tuple[str, str], ...]) -> Any:
    """The first of ``(module, name)`` the node has (its storage layer is being reshaped)."""
    for module, name in candidates:
        with contextlib.suppress(ImportError, AttributeError):
            return getattr(importlib.import_module(module), name)
    raise RuntimeError(f"the node has none of {candidates}")


def node_connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection with the node's own SQLite settings (the pragmas of its writer)."""
    connect = _node_attr(
        (("stigmem_node.db.sqlite", "connect"), ("stigmem_node.db.database", "_connect"))
    )
    conn: sqlite3.Connection = connect(path, synchronous)
    return conn


@functools.cache
def _sqlite_dialect() -> Any:
    try:
        return _node_attr((("stigmem_node.db.sqlite", "SQLITE"),))
    except RuntimeError:  # a node without dialects
        return None


class _Recorder:
    """Stands in for a cursor: records ``execute`` calls instead of running them."""

    lastrowid = 0
    rowcount = 1

    def __init__(self, dialect: Any = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.dialect = dialect if dialect is not None else _sqlite_dialect()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> _Recorder:
        self.calls.append((sql, tuple(params)))
        return self


def _dialect(engine: str) -> Any:
    if engine == "postgres":
        from stigmem_node.db.postgres import POSTGRES

        return POSTGRES
    return _sqlite_dialect()


# Statements in the order the node runs them, each with the rows of many asserts.
Batch = dict[str, list[tuple[Any, ...]]]


class RowMaker:
    """The statements the node runs (fact row, audit row) for the ``n``-th fact of a stream."""

    def __init__(
        self, prefix: str, start: datetime, step: timedelta, engine: str = "sqlite"
    ) -> None:
        self.prefix = prefix
        self._clock = FakeClock(start)
        self._step = step.total_seconds()
        hlc = HybridClock(lambda: int(self._clock.now().timestamp() * 1000))
        self._ctx = WriteContext(clock=self._clock, hlc=hlc)
        self._dialect = _dialect(engine)

    def calls(self, n: int) -> tuple[list[tuple[str, tuple[Any, ...]]], NewFact]:
        body = fact_body(self.prefix, n)
        value = body["value"]
        fact = NewFact(
            entity=body["entity"],
            relation=body["relation"],
            value_type=value["type"],
            value_v=encode_v(value["type"], value["v"]),
            source=body["source"],
            confidence=float(body["confidence"]),
            scope=body["scope"],
            writer=WRITER,
        )
        rec = _Recorder(self._dialect)
        cur = cast(Cursor, rec)
        insert_row_txn(cur, self._ctx, fact)
        now = format_ts(self._clock.now())
        detail = {"cid": fact.cid, "scope": fact.scope}
        record_txn(
            cur, now, "fact_write", entity_uri=WRITER, fact_id=fact.id, source=fact.source,
            detail=detail,
        )  # fmt: skip
        self._clock.advance(self._step)
        return rec.calls, fact

    def batch(
        self, begin: int, end: int, keep: Callable[[int, NewFact], None] | None = None
    ) -> Batch:
        """The statements of facts ``begin`` … ``end - 1``, rows grouped by statement."""
        out: Batch = {}
        for n in range(begin, end):
            calls, fact = self.calls(n)
            for sql, params in calls:
                out.setdefault(sql, []).append(params)
            if keep is not None:
                keep(n, fact)
        return out


def _target(target: Path | Store) -> Store:
    return target if isinstance(target, Store) else Store("sqlite", target.stem, target)


def create_schema(target: Path | Store) -> None:
    """A fresh database with the node's migrations applied, by the node's own engine (a
    SQLite file in WAL mode as the node sets it, or an empty PostgreSQL database)."""
    store = _target(target)
    if store.engine == "postgres":
        from stigmem_node.db.postgres import PostgresEngine

        assert store.url is not None
        engine = PostgresEngine(store.url, pool_size=1)
        engine.open()
        engine.close()
        return
    db = Database(store.path, synchronous="full")
    db.open()
    db.close()


@dataclass(slots=True)
class Sample:
    """Keys of a pre-loaded database for read scenarios (picked at random, fixed seed)."""

    count: int
    ids: list[str] = field(default_factory=list)
    cids: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    relations: list[str] = field(default_factory=lambda: list(RELATIONS))


class _Writer(Protocol):
    def write(self, batch: Batch) -> None: ...

    def cpu_seconds(self) -> float | None: ...

    def close(self) -> None: ...


class _SqliteWriter:
    """One transaction per batch (``BEGIN IMMEDIATE`` … ``COMMIT``), ``executemany`` per
    statement, on a connection with the node's own settings."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.conn = node_connect(path, synchronous)

    def write(self, batch: Batch) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        for sql, rows in batch.items():
            self.conn.executemany(sql, rows)
        self.conn.execute("COMMIT")

    def catch_up(self, fn: Callable[[Any, int], int], limit: int) -> int:
        """``fn(cursor, limit)`` in one write transaction; what it returns."""
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        left = fn(cur, limit)
        cur.execute("COMMIT")
        return left

    @staticmethod
    def cpu_seconds() -> float | None:
        return None  # SQLite works in this thread: its CPU is the thread's

    def close(self) -> None:
        self.conn.close()


_PLAIN_INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(\w+)\s*\(([\w\s,]+)\)\s*VALUES\s*\((?:\s*\?\s*,)*\s*\?\s*\)\s*;?\s*$",
    re.IGNORECASE,
)


class _PgWriter:
    """One transaction per batch on a psycopg connection: ``executemany`` of the node's SQL
    as the node's PostgreSQL cursor rewrites it (psycopg sends the rows of one
    ``executemany`` pipelined: one round trip per batch, not one per row), or ``COPY`` for
    plain inserts when ``copy`` (pre-loading)."""

    def __init__(self, store: Store, *, copy: bool = False) -> None:
        import psycopg

        from stigmem_node.db.sqltext import to_postgres

        assert store.url is not None
        self._to_postgres = to_postgres
        self.conn = psycopg.connect(store.url, application_name="stigmem-bench")
        self._store = store
        self._copy = copy

    def write(self, batch: Batch) -> None:
        with self.conn.cursor() as cur:
            for sql, rows in batch.items():
                plain = _PLAIN_INSERT.match(sql) if self._copy else None
                if plain is None:
                    cur.executemany(self._to_postgres(sql), rows)
                    continue
                columns = ", ".join(c.strip() for c in plain.group(2).split(","))
                with cur.copy(f"COPY {plain.group(1)} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        self.conn.commit()

    def cpu_seconds(self) -> float | None:
        """CPU time of the database's server processes (this connection's backend)."""
        return self._store.db_cpu_seconds()

    def catch_up(self, fn: Callable[[Any, int], int], limit: int) -> int:
        """``fn(cursor, limit)`` (a node cursor: SQLite-style SQL) in one transaction."""
        from stigmem_node.db.postgres import PgCursor

        with self.conn.cursor() as raw:
            left = fn(PgCursor(raw), limit)
        self.conn.commit()
        return left

    def vacuum_analyze(self) -> None:
        self.conn.autocommit = True
        self.conn.execute("VACUUM (ANALYZE)")
        self.conn.autocommit = False

    def close(self) -> None:
        self.conn.close()


def preload(
    target: Path | Store,
    count: int,
    progress: Callable[[int], None] | None = None,
    chunk: int = 20_000,
) -> Sample:
    """Create the database with ``count`` facts (and their audit rows), as if asserted over
    30 days.

    Loading is not measured. On SQLite it runs with ``synchronous=OFF`` and a big cache
    (the node then opens the file with its own settings) and ends with ``PRAGMA optimize``,
    as the node's close does. On PostgreSQL rows go in by ``COPY`` and the load ends with
    ``VACUUM (ANALYZE)``, what autovacuum would have done on a database that grew this big.
    """
    store = _target(target)
    create_schema(store)
    rng = random.Random(count)
    picked = set(rng.sample(range(count), min(SAMPLE_SIZE, count)))
    sample = Sample(count)

    def keep(n: int, fact: NewFact) -> None:
        if n in picked:
            sample.ids.append(fact.id)
            sample.cids.append(fact.cid)
            sample.entities.append(fact.entity)
            sample.pairs.append((fact.entity, fact.relation))

    step = timedelta(days=30) / max(count, 1)
    start = datetime.now(UTC) - timedelta(days=30, minutes=5)
    maker = RowMaker("load", start, step, store.engine)
    writer: _SqliteWriter | _PgWriter
    if store.engine == "postgres":
        writer = _PgWriter(store, copy=True)
    else:
        writer = _SqliteWriter(store.path, "off")
        writer.conn.execute("PRAGMA cache_size = -262144")
    try:
        for begin in range(0, count, chunk):
            end = min(begin + chunk, count)
            writer.write(maker.batch(begin, end, keep))
            if progress is not None:
                progress(end)
        _index_fulltext(writer, store.engine)
        if isinstance(writer, _PgWriter):
            writer.vacuum_analyze()
        else:
            writer.conn.execute("PRAGMA optimize")  # what the node runs at every close
            writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        writer.close()
    return sample


def _index_fulltext(writer: _SqliteWriter | _PgWriter, engine: str) -> None:
    """Bring the full-text index up to date, as the node's indexer would have long before a
    database grew this big (where the node indexes facts after they commit rather than in
    the transaction that writes them): the reads then measure searches, not a backlog."""
    catch_up = getattr(getattr(_dialect(engine), "fulltext", None), "catch_up", None)
    if catch_up is None:  # indexed by the inserts themselves
        return
    while writer.catch_up(catch_up, 50_000):
        pass


@dataclass(frozen=True, slots=True)
class CeilingRound:
    facts: int
    seconds: float  # wall time of the timed part (executemany + commit)
    cpu_s: float  # CPU of this thread in the timed part (SQLite's work, psycopg's)
    db_cpu_s: float | None  # PostgreSQL server CPU in the timed part (same machine only)


class ExecutemanyCeiling:
    """The bare ``executemany`` of the node's rows into a fresh database of the same schema.

    SQLite: the same connection pragmas as the node's writer (WAL, ``synchronous`` as the
    node runs), one ``BEGIN IMMEDIATE`` … ``COMMIT`` per batch (one fsync). PostgreSQL: one
    psycopg connection, one transaction per batch, psycopg's ``executemany`` (pipelined) of
    the node's statements as its PostgreSQL cursor rewrites them. Both: the fact rows and
    the audit rows an assert writes, triggers included (they are part of the schema); one
    connection, since every write of the node takes one lock (``BEGIN IMMEDIATE``, the
    PostgreSQL commit lock). Only ``executemany`` + commit are timed: the rows are built
    beforehand.
    """

    def __init__(self, target: Path | Store, synchronous: str = "full") -> None:
        store = _target(target)
        create_schema(store)
        self._writer: _Writer = (
            _PgWriter(store)
            if store.engine == "postgres"
            else _SqliteWriter(store.path, synchronous)
        )
        self._maker = RowMaker("ceil", datetime.now(UTC), timedelta(microseconds=50), store.engine)
        self._next = 0

    def close(self) -> None:
        self._writer.close()

    def round(self, batch_size: int, duration_s: float, max_facts: int) -> CeilingRound:
        """Insert batches for ``duration_s`` of timed work."""
        done, timed, cpu = 0, 0.0, 0.0
        db_cpu: float | None = 0.0
        while timed < duration_s and done < max_facts:
            batch = self._maker.batch(self._next, self._next + batch_size)
            self._next += batch_size
            db_before = self._writer.cpu_seconds()
            started, cpu_started = time.perf_counter(), time.thread_time()
            self._writer.write(batch)
            timed += time.perf_counter() - started
            cpu += time.thread_time() - cpu_started
            db_after = self._writer.cpu_seconds()
            if db_cpu is not None and db_before is not None and db_after is not None:
                db_cpu += db_after - db_before
            else:
                db_cpu = None
            done += batch_size
        return CeilingRound(done, timed, cpu, db_cpu)
