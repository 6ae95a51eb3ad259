"""``Database.stream``: a write whose parts arrive while the writer works on it, in one
transaction; an abandoned or stalled stream writes nothing and frees the writer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from stigmem_node.db import Cursor, Database
from tests.db.support import Gate, keys_on_disk, put_txn


def put_parts_txn(cur: Cursor, parts: Iterable[list[str]], tag: str) -> list[str]:
    written: list[str] = []
    for part in parts:
        for key in part:
            put_txn(cur, f"{tag}{key}")
            written.append(key)
    return written


async def test_parts_are_written_in_order_in_one_transaction(db: Database) -> None:
    commits = db.commits
    stream = db.stream("parts", put_parts_txn, ["a", "b"], "s-")
    await asyncio.sleep(0.05)  # the writer holds the first part and waits for more
    assert keys_on_disk(db) & {"s-a", "s-b"} == set()  # nothing committed mid-stream
    stream.put(["c"])
    stream.put(["d", "e"])
    stream.end()
    assert await stream.result == ["a", "b", "c", "d", "e"]
    assert db.commits - commits == 1
    assert {"s-a", "s-b", "s-c", "s-d", "s-e"} <= keys_on_disk(db)


async def test_an_aborted_stream_writes_nothing(db: Database) -> None:
    stream = db.stream("parts", put_parts_txn, ["a"], "x-")
    stream.put(["b"])
    stream.abort()
    with pytest.raises(RuntimeError, match="aborted"):
        await stream.result
    assert not keys_on_disk(db) & {"x-a", "x-b"}
    assert await db.write("put", put_txn, "after-abort") == "after-abort"


async def test_a_stalled_stream_times_out_and_frees_the_writer(db: Database) -> None:
    stream = db.stream("parts", put_parts_txn, ["a"], "t-", timeout_s=0.2)
    queued = asyncio.create_task(db.write("put", put_txn, "behind"))  # waits for the writer
    with pytest.raises(TimeoutError):
        await stream.result
    assert await queued == "behind"
    on_disk = keys_on_disk(db)
    assert "t-a" not in on_disk
    assert "behind" in on_disk
    stream.end()  # the owner's finally: harmless after the timeout
    with pytest.raises(RuntimeError, match="already ended"):
        stream.put(["late"])


async def test_a_replayed_group_runs_the_stream_again_from_its_kept_parts(
    db: Database, gate: tuple[Gate, asyncio.Task[str]]
) -> None:
    g, gate_task = gate
    replays = db.replays
    stream = db.stream("parts", put_parts_txn, ["a"], "r-")
    failing = asyncio.create_task(db.write("put", put_txn, "boom", True, replayable=True))
    stream.put(["b"])
    stream.end()
    await asyncio.sleep(0)
    g.release.set()
    await gate_task
    assert await stream.result == ["a", "b"]
    with pytest.raises(ValueError, match="item boom failed"):
        await failing
    assert db.replays - replays == 1
    assert {"r-a", "r-b"} <= keys_on_disk(db)
