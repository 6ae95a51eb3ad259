"""Group commit: many writes share one transaction; one failing item fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import psycopg
import pytest

from stigmem_node.db import Cursor, Database
from stigmem_node.facts.hlc import parse_hlc
from tests import pg
from tests.conftest import NodeHarness, fact_body
from tests.db.support import Gate, keys_on_disk, new_database, put_txn


async def test_queued_writes_share_one_transaction(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    commits = db.commits
    tasks = [asyncio.create_task(db.write("put", put_txn, f"k{i}")) for i in range(50)]
    await asyncio.sleep(0)  # let every task enqueue its write behind the gate
    g.release.set()
    assert await gate_task == "gate"
    assert await asyncio.gather(*tasks) == [f"k{i}" for i in range(50)]
    assert db.commits - commits == 2  # the gate's transaction, then all 50 together
    assert db.items_committed >= 51
    assert keys_on_disk(db) >= {f"k{i}" for i in range(50)}


async def test_failing_item_fails_alone(db: Database, gate: tuple[Gate, asyncio.Task[str]]) -> None:
    g, gate_task = gate
    commits = db.commits
    tasks = [asyncio.create_task(db.write("put", put_txn, f"k{i}", i == 3)) for i in range(6)]
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], ValueError)
    assert str(results[3]) == "item k3 failed"
    assert [r for i, r in enumerate(results) if i != 3] == ["k0", "k1", "k2", "k4", "k5"]
    assert db.commits - commits == 2  # the failure did not split or abort the batch
    on_disk = keys_on_disk(db)
    assert "k3" not in on_disk  # its insert was rolled back
    assert {"k0", "k1", "k2", "k4", "k5"} <= on_disk


async def test_constraint_error_of_one_item_is_isolated(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    first = asyncio.create_task(db.write("put", put_txn, "dup"))
    second = asyncio.create_task(db.write("put", put_txn, "dup"))
    third = asyncio.create_task(db.write("put", put_txn, "other"))
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    assert await first == "dup"
    with pytest.raises(pg.INTEGRITY_ERRORS):
        await second
    assert await third == "other"
    assert {"dup", "other"} <= keys_on_disk(db)


async def test_replayable_items_skip_savepoints_until_one_fails(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    commits, replays = db.commits, db.replays
    tasks = [
        asyncio.create_task(db.write("put", put_txn, f"r{i}", i == 2, replayable=i % 2 == 0))
        for i in range(6)
    ]
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], ValueError)
    assert str(results[2]) == "item r2 failed"  # the item's own error, not the replay's
    assert [r for i, r in enumerate(results) if i != 2] == ["r0", "r1", "r3", "r4", "r5"]
    assert db.replays - replays == 1  # the group ran again, each item in its savepoint
    assert db.commits - commits == 2  # still one commit for the whole group
    on_disk = keys_on_disk(db)
    assert "r2" not in on_disk
    assert {"r0", "r1", "r3", "r4", "r5"} <= on_disk


async def test_replayable_constraint_error_is_isolated(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    first = asyncio.create_task(db.write("put", put_txn, "rdup", replayable=True))
    second = asyncio.create_task(db.write("put", put_txn, "rdup", replayable=True))
    third = asyncio.create_task(db.write("put", put_txn, "rother", replayable=True))
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    assert await first == "rdup"
    with pytest.raises(pg.INTEGRITY_ERRORS):
        await second
    assert await third == "rother"
    assert {"rdup", "rother"} <= keys_on_disk(db)


async def test_replayable_items_commit_without_a_replay(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    replays = db.replays
    tasks = [
        asyncio.create_task(db.write("put", put_txn, f"ok{i}", replayable=True)) for i in range(5)
    ]
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    assert await asyncio.gather(*tasks) == [f"ok{i}" for i in range(5)]
    assert db.replays == replays
    assert {f"ok{i}" for i in range(5)} <= keys_on_disk(db)


def put_many_txn(cur: Cursor, calls: list[tuple[object, ...]]) -> list[str]:
    """Several ``put_txn`` writes in one statement (a failing one raises for all)."""
    if any(len(call) > 1 and call[1] for call in calls):
        raise ValueError("a grouped item failed")
    keys = [str(call[0]) for call in calls]
    cur.executemany("INSERT INTO node_meta (key, value) VALUES (?, 'many')", [(k,) for k in keys])
    return keys


def values_on_disk(db: Database) -> dict[str, str]:
    return dict(pg.rows(db, "SELECT key, value FROM node_meta"))


async def test_writes_sharing_a_many_function_run_as_one_call(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    grouped, replays = db.grouped, db.replays
    tasks = [
        asyncio.create_task(
            db.write("put", put_txn, f"m{i}", many=put_many_txn)
            if i != 2
            else db.write("put", put_txn, f"m{i}")  # an ordinary write in between
        )
        for i in range(5)
    ]
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    assert await asyncio.gather(*tasks) == [f"m{i}" for i in range(5)]
    assert db.grouped - grouped == 4
    assert db.replays == replays
    on_disk = values_on_disk(db)
    assert [on_disk[f"m{i}"] for i in range(5)] == ["many", "many", "v", "many", "many"]


async def test_a_failing_many_call_replays_each_write_alone(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    replays = db.replays
    tasks = [
        asyncio.create_task(db.write("put", put_txn, f"f{i}", i == 1, many=put_many_txn))
        for i in range(3)
    ]
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "f0"
    assert results[2] == "f2"
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "item f1 failed"  # its own error, from the isolated replay
    assert db.replays - replays == 1
    on_disk = values_on_disk(db)
    assert "f1" not in on_disk
    assert on_disk["f0"] == on_disk["f2"] == "v"  # written by the single-write function


async def test_a_lone_write_with_a_many_function_runs_by_itself(db: Database) -> None:
    grouped = db.grouped
    assert await db.write("put", put_txn, "lone", many=put_many_txn) == "lone"
    assert db.grouped == grouped
    assert values_on_disk(db)["lone"] == "v"


def test_write_sync(db: Database) -> None:
    assert db.write_sync(put_txn, "sync") == "sync"
    assert "sync" in keys_on_disk(db)
    with pytest.raises(ValueError, match="item bad failed"):
        db.write_sync(put_txn, "bad", True)
    assert "bad" not in keys_on_disk(db)
    assert db.read_sync(lambda cur: cur.execute("SELECT COUNT(*) FROM node_meta").fetchone()[0])


async def test_cancelled_caller_does_not_break_the_writer(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    doomed = asyncio.create_task(db.write("put", put_txn, "cancelled"))
    await asyncio.sleep(0)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    g.release.set()
    await gate_task
    # The writer keeps serving; the abandoned write was already queued and still commits.
    assert await db.write("put", put_txn, "after") == "after"
    assert {"cancelled", "after"} <= keys_on_disk(db)


async def test_write_on_a_closed_database_raises(tmp_path: Path, storage: pg.Storage) -> None:
    database = new_database(storage, tmp_path)
    with pytest.raises(RuntimeError, match="not open"):
        await database.write("put", put_txn, "x")
    with pytest.raises(RuntimeError, match="not open"):
        database.write_sync(put_txn, "x")


async def test_reads_see_committed_writes(db: Database) -> None:
    await db.write("put", put_txn, "seen")
    count = await db.read(
        "count",
        lambda cur: cur.execute("SELECT COUNT(*) FROM node_meta WHERE key='seen'").fetchone()[0],
    )
    assert count == 1


async def test_reader_connections_cannot_write(db: Database) -> None:
    refused = (sqlite3.OperationalError, psycopg.errors.ReadOnlySqlTransaction)
    with pytest.raises(refused, match=r"readonly|read-only|query_only"):
        await db.read("put", put_txn, "nope")


async def test_seq_and_hlc_agree_with_commit_order(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    bodies = [fact_body(entity=f"user:{i}") for i in range(40)]
    responses = await asyncio.gather(*(client.post("/v1/facts", json=b) for b in bodies))
    assert all(r.status_code == 201 for r in responses)
    rows = pg.rows(harness.node.db, "SELECT seq, hlc FROM facts ORDER BY seq")
    seqs = [r[0] for r in rows]
    hlcs = [parse_hlc(r[1]) for r in rows]
    assert len(rows) == 40
    assert seqs == sorted(set(seqs))
    assert hlcs == sorted(set(hlcs))  # strictly increasing in commit order
