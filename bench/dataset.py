"""Rows exactly as the node writes them, for pre-loading big databases and for the
bare-``executemany`` ceiling.

Rows are produced by the node's own code (``facts.store.insert_row_txn`` and
``audit.log.record_txn``, the two inserts of every assert) run against a cursor that only
records the SQL and parameters. So the columns, encodings, CIDs, HLCs and timestamps are the
node's, and stay so when the node changes. Schemas come from the node's real migrations.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from bench.bodies import RELATIONS, fact_body
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

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.dialect = _sqlite_dialect()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> _Recorder:
        self.calls.append((sql, tuple(params)))
        return self


class RowMaker:
    """The fact row and audit row the node writes for the ``n``-th fact of a stream."""

    def __init__(self, prefix: str, start: datetime, step: timedelta) -> None:
        self.prefix = prefix
        self._clock = FakeClock(start)
        self._step = step.total_seconds()
        hlc = HybridClock(lambda: int(self._clock.now().timestamp() * 1000))
        self._ctx = WriteContext(clock=self._clock, hlc=hlc)
        self.fact_sql = ""
        self.audit_sql = ""

    def rows(self, n: int) -> tuple[tuple[Any, ...], tuple[Any, ...], NewFact]:
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
        rec = _Recorder()
        cur = cast(Cursor, rec)
        insert_row_txn(cur, self._ctx, fact)
        now = format_ts(self._clock.now())
        detail = {"cid": fact.cid, "scope": fact.scope}
        record_txn(
            cur, now, "fact_write", entity_uri=WRITER, fact_id=fact.id, source=fact.source,
            detail=detail,
        )  # fmt: skip
        (self.fact_sql, fact_row), (self.audit_sql, audit_row) = rec.calls
        self._clock.advance(self._step)
        return fact_row, audit_row, fact


def create_schema(path: Path) -> None:
    """A fresh database file with the node's migrations applied (WAL, as the node sets)."""
    db = Database(path, synchronous="full")
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


def preload(
    path: Path, count: int, progress: Callable[[int], None] | None = None, chunk: int = 20_000
) -> Sample:
    """Create ``path`` with ``count`` facts (and their audit rows), as if asserted over 30 days.

    Loading is not measured, so it runs with ``synchronous=OFF`` and a big cache; the node
    then opens the file with its own settings.
    """
    create_schema(path)
    rng = random.Random(count)
    picked = set(rng.sample(range(count), min(SAMPLE_SIZE, count)))
    sample = Sample(count)
    step = timedelta(days=30) / max(count, 1)
    maker = RowMaker("load", datetime.now(UTC) - timedelta(days=30, minutes=5), step)
    conn = node_connect(path, "off")
    conn.execute("PRAGMA cache_size = -262144")
    try:
        for begin in range(0, count, chunk):
            facts, audits = [], []
            for n in range(begin, min(begin + chunk, count)):
                fact_row, audit_row, fact = maker.rows(n)
                facts.append(fact_row)
                audits.append(audit_row)
                if n in picked:
                    sample.ids.append(fact.id)
                    sample.cids.append(fact.cid)
                    sample.entities.append(fact.entity)
                    sample.pairs.append((fact.entity, fact.relation))
            conn.execute("BEGIN")
            conn.executemany(maker.fact_sql, facts)
            conn.executemany(maker.audit_sql, audits)
            conn.execute("COMMIT")
            if progress is not None:
                progress(min(begin + chunk, count))
        conn.execute("PRAGMA optimize")  # what the node runs at every close
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return sample


class ExecutemanyCeiling:
    """The bare ``executemany`` of the node's rows into a fresh file of the same schema.

    Same connection pragmas as the node's writer (WAL, ``synchronous`` as the node runs),
    one transaction per batch (``BEGIN IMMEDIATE`` … ``COMMIT``, one fsync), the fact rows
    and the audit rows an assert writes. Only ``executemany`` + commit are timed: the rows
    are built beforehand.
    """

    def __init__(self, path: Path, synchronous: str = "full") -> None:
        create_schema(path)
        self._conn = node_connect(path, synchronous)
        self._maker = RowMaker("ceil", datetime.now(UTC), timedelta(microseconds=50))
        self._next = 0

    def close(self) -> None:
        self._conn.close()

    def round(self, batch_size: int, duration_s: float, max_facts: int) -> tuple[int, float, float]:
        """Insert batches for ``duration_s`` of timed work: ``(facts, seconds, CPU seconds)``."""
        done, timed, cpu = 0, 0.0, 0.0
        while timed < duration_s and done < max_facts:
            facts, audits = [], []
            for n in range(self._next, self._next + batch_size):
                fact_row, audit_row, _ = self._maker.rows(n)
                facts.append(fact_row)
                audits.append(audit_row)
            self._next += batch_size
            started, cpu_started = time.perf_counter(), time.thread_time()
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(self._maker.fact_sql, facts)
            self._conn.executemany(self._maker.audit_sql, audits)
            self._conn.execute("COMMIT")
            timed += time.perf_counter() - started
            cpu += time.thread_time() - cpu_started
            done += batch_size
        return done, timed, cpu
