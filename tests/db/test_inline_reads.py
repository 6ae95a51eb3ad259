"""Small reads on SQLite run on the event loop's thread, within a budget of SQLite's work;
a read that runs past it is abandoned and run again on a reader thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stigmem_node.db import Cursor, Database

pytestmark = pytest.mark.sqlite_only

# Counting to this many rows takes SQLite far longer than a 1 ms budget.
_HEAVY = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
    " SELECT COUNT(*) FROM n"
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "r.db", synchronous="normal", inline_read_s=0.001)
    database.open()
    yield database
    database.close()


class Recorder:
    """A read function that notes the thread of every run."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.threads: list[int] = []

    def txn(self, cur: Cursor) -> int:
        self.threads.append(threading.get_ident())
        return int(cur.execute(self.sql).fetchone()[0])


async def test_a_small_read_runs_on_the_calling_thread(db: Database) -> None:
    read = Recorder("SELECT COUNT(*) FROM node_meta")
    assert await db.read("count", read.txn, small=True) >= 0
    assert read.threads == [threading.get_ident()]
    assert db.inline_overruns == 0


async def test_other_reads_run_on_a_reader_thread(db: Database) -> None:
    read = Recorder("SELECT 1")
    assert await db.read("one", read.txn) == 1
    assert read.threads != [threading.get_ident()]


async def test_a_read_past_its_budget_moves_to_a_reader_thread(db: Database) -> None:
    read = Recorder(_HEAVY)
    assert await db.read("heavy", read.txn, small=True) == 3000000
    loop_thread = threading.get_ident()
    assert len(read.threads) == 2
    assert read.threads[0] == loop_thread
    assert read.threads[1] != loop_thread
    assert db.inline_overruns == 1
    # The loop's connection is left clean: no handler, no open transaction.
    again = Recorder("SELECT 7")
    assert await db.read("again", again.txn, small=True) == 7
    assert again.threads == [loop_thread]
    assert db.inline_overruns == 1


async def test_sql_errors_of_a_small_read_reach_the_caller(db: Database) -> None:
    read = Recorder("SELECT * FROM no_such_table")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await db.read("broken", read.txn, small=True)
    assert len(read.threads) == 1
    assert db.inline_overruns == 0


async def test_a_small_read_sees_what_was_committed_before_it(db: Database) -> None:
    def put(cur: Cursor) -> None:
        cur.execute("INSERT INTO node_meta (key, value) VALUES ('inline-k', 'v1')")

    await db.write("put", put)
    read = Recorder("SELECT COUNT(*) FROM node_meta WHERE key = 'inline-k'")
    assert await db.read("get", read.txn, small=True) == 1


async def test_budget_zero_keeps_every_read_on_reader_threads(tmp_path: Path) -> None:
    database = Database(tmp_path / "z.db", synchronous="normal", inline_read_s=0)
    database.open()
    try:
        read = Recorder("SELECT 1")
        assert await database.read("one", read.txn, small=True) == 1
        assert read.threads != [threading.get_ident()]
    finally:
        database.close()


async def test_time_alone_never_moves_a_small_read(db: Database) -> None:
    """Past its budget in time (here: asleep, as when waiting for the interpreter lock) but
    with little work for SQLite, a small read finishes where it started."""
    threads: list[int] = []

    def slow_but_small(cur: Cursor) -> int:
        threads.append(threading.get_ident())
        time.sleep(0.005)  # five times the budget
        return int(
            cur.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
                " SELECT COUNT(*) FROM n"
            ).fetchone()[0]
        )

    assert await db.read("small", slow_but_small, small=True) == 300
    assert threads == [threading.get_ident()]
    assert db.inline_overruns == 0


@pytest.mark.parametrize("value", ["-1", "51", "soon"])
def test_an_out_of_range_budget_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from stigmem_node.config import SettingsError, load_settings

    monkeypatch.setenv("STIGMEM_READ_INLINE_MS", value)
    with pytest.raises(SettingsError, match="STIGMEM_READ_INLINE_MS"):
        load_settings()
    monkeypatch.setenv("STIGMEM_READ_INLINE_MS", "0")
    assert load_settings().read_inline_ms == 0
