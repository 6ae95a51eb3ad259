"""The full-text index caught up after the assert (SQLite), never behind what recall sees.

On PostgreSQL the index is a generated column: the same tests show recall finds every fact,
and the indexer does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from stigmem_node.cli import main as cli_main
from stigmem_node.clock import FakeClock
from stigmem_node.db import Database
from stigmem_node.db import migrate as migrate_module
from stigmem_node.facts.hlc import HybridClock
from stigmem_node.facts.store import NewFact, WriteContext, insert_row_txn
from stigmem_node.recall.indexer import POLL_S, FullTextIndexer, backlog_txn
from tests import pg
from tests.conftest import NodeHarness, start_node
from tests.decay.support import put

NOW_MS = 1_760_000_000_000


@contextlib.asynccontextmanager
async def node(tmp_path: Path, **settings: Any) -> AsyncIterator[NodeHarness]:
    """A node whose background indexer is stopped: only recall's drain indexes."""
    nodes = start_node(tmp_path, clock=FakeClock(), **settings)
    harness = await anext(nodes)
    await harness.node.fulltext.stop()
    try:
        yield harness
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await anext(nodes)


def text(v: str) -> dict[str, str]:
    return {"type": "text", "v": v}


async def recall_ids(client: httpx.AsyncClient, query: str) -> list[str]:
    got = await client.post(
        "/v1/recall", json={"query": query, "scope": "company", "include_neighbors": False}
    )
    assert got.status_code == 200, got.text
    return [item["fact"]["id"] for item in got.json()["facts"]]


async def backlog(h: NodeHarness) -> int:
    return await h.node.db.read("test_backlog", backlog_txn)


def indexed(h: NodeHarness, word: str) -> list[int]:
    """Rows of the SQLite index holding ``word`` (SQLite only)."""
    sql = "SELECT rowid FROM facts_fts WHERE facts_fts MATCH ? ORDER BY rowid"
    return [row[0] for row in pg.rows(h.node.db, sql, (f'"{word}"',))]


async def test_a_fact_is_recalled_as_soon_as_its_assert_returns(
    tmp_path: Path, engine: str
) -> None:
    async with node(tmp_path) as h, h.client() as admin:
        fact = await put(admin, entity="user:ada", value=text("walrus habitat survey"))
        assert await backlog(h) == (1 if engine == "sqlite" else 0)
        assert await recall_ids(admin, "walrus survey") == [fact["id"]]
        assert await backlog(h) == 0
        assert h.node.fulltext.writes == (1 if engine == "sqlite" else 0)
        # Caught up: the next recall reads the index as it is.
        assert await recall_ids(admin, "walrus survey") == [fact["id"]]
        assert h.node.fulltext.writes == (1 if engine == "sqlite" else 0)


async def test_several_chunks(tmp_path: Path, engine: str) -> None:
    async with node(tmp_path, fulltext_chunk=3) as h, h.client() as admin:
        facts = [
            await put(admin, entity=f"user:u{i}", value=text(f"narwhal tusk {i}"))
            for i in range(10)
        ]
        pending = await backlog(h)
        assert pending == (10 if engine == "sqlite" else 0)
        got = await recall_ids(admin, "narwhal tusk")
        assert sorted(got) == sorted(f["id"] for f in facts)
        assert h.node.fulltext.writes == math.ceil(pending / 3)
        assert await backlog(h) == 0


async def test_concurrent_recalls_share_one_catch_up(tmp_path: Path, engine: str) -> None:
    async with node(tmp_path) as h, h.client() as admin:
        fact = await put(admin, entity="user:ada", value=text("okapi sighting"))
        found = await asyncio.gather(*(recall_ids(admin, "okapi") for _ in range(8)))
        assert found == [[fact["id"]]] * 8
        assert h.node.fulltext.writes <= (2 if engine == "sqlite" else 0)


async def test_a_backlog_outlives_a_restart(tmp_path: Path, engine: str) -> None:
    async with node(tmp_path) as h, h.client() as admin:
        facts = [
            await put(admin, entity=f"user:u{i}", value=text("pangolin scales")) for i in range(5)
        ]
        assert await backlog(h) == (5 if engine == "sqlite" else 0)
    # The background of the next start (or its first recall) catches up.
    async for again in start_node(tmp_path, clock=FakeClock()):
        async with again.client() as admin:
            got = await recall_ids(admin, "pangolin scales")
            assert sorted(got) == sorted(f["id"] for f in facts)
        assert await backlog(again) == 0


def _cli(h: NodeHarness, *args: str) -> None:
    """A ``stigmem`` command on ``h``'s database."""
    url = h.node.settings.database_url
    where = [] if url else ["--db", str(h.node.settings.db_path)]
    env = {"STIGMEM_DATABASE_URL": url} if url else {}
    done = CliRunner().invoke(cli_main, [*args, *where], env=env, catch_exceptions=False)
    assert done.exit_code == 0, done.output


async def test_imported_facts_are_recalled(tmp_path: Path, engine: str) -> None:
    """An import into a running node's database: recall finds the imported facts."""
    async with node(tmp_path / "src") as src, src.client() as admin:
        facts = [
            await put(admin, entity=f"user:u{i}", value=text("axolotl gills")) for i in range(4)
        ]
        _cli(src, "export", "-o", str(tmp_path / "export.jsonl"))
    async with node(tmp_path / "dst") as dst, dst.client() as admin:
        _cli(dst, "import", str(tmp_path / "export.jsonl"))
        assert await backlog(dst) == (4 if engine == "sqlite" else 0)
        got = await recall_ids(admin, "axolotl gills")
        assert sorted(got) == sorted(f["id"] for f in facts)


@pytest.mark.sqlite_only
async def test_reserved_facts_are_never_indexed(tmp_path: Path) -> None:
    async with node(tmp_path) as h, h.client() as admin:
        ttl = {"type": "number", "v": 30}
        reserved = await put(admin, entity="user:zanzibar", relation="stigmem:ttl", value=ttl)
        plain = await put(admin, entity="user:quagga", value=text("zanzibar quagga"))
        assert await recall_ids(admin, "zanzibar quagga") == [plain["id"]]
        seqs = dict(pg.rows(h.node.db, "SELECT id, seq FROM facts"))
        assert indexed(h, "zanzibar") == [seqs[plain["id"]]]  # not the reserved one
        watermark = pg.rows(h.node.db, "SELECT seq FROM facts_fts_watermark")
        assert watermark == [(max(seqs.values()),)]  # passed over, not left pending
        assert seqs[reserved["id"]] < seqs[plain["id"]]


@pytest.mark.sqlite_only
async def test_the_background_catches_up_by_size_or_age(tmp_path: Path) -> None:
    async with node(tmp_path) as h, h.client() as admin:
        indexer = FullTextIndexer(h.node.db, chunk=3, delay_s=2 * POLL_S)
        assert await indexer.poll(0.0) == 0.0  # nothing pending
        await put(admin, entity="user:a", value=text("ibex"))
        # One fact: it waits until it is old enough.
        assert await indexer.poll(0.0) == POLL_S
        assert await indexer.poll(POLL_S) == 2 * POLL_S
        assert (await backlog(h), indexer.writes) == (1, 0)
        assert await indexer.poll(2 * POLL_S) == 0.0
        assert (await backlog(h), indexer.writes) == (0, 1)
        # A chunk's worth is indexed at once.
        for i in range(3):
            await put(admin, entity=f"user:b{i}", value=text("ibex"))
        assert await indexer.poll(0.0) == 0.0
        assert (await backlog(h), indexer.writes) == (0, 2)
        assert len(indexed(h, "ibex")) == 4


@pytest.mark.sqlite_only
async def test_the_background_indexes_a_backlog_at_start(tmp_path: Path) -> None:
    slept = asyncio.Event()

    async def sleep(seconds: float) -> None:  # the first poll is done: stay there
        slept.set()
        await asyncio.Event().wait()

    async with node(tmp_path) as h, h.client() as admin:
        await put(admin, entity="user:a", value=text("tapir"))
        indexer = FullTextIndexer(h.node.db, chunk=1000, delay_s=3600.0, sleep=sleep)
        await indexer.start()
        try:
            await slept.wait()
            assert (await backlog(h), indexer.writes) == (0, 1)
        finally:
            await indexer.stop()


async def test_the_indexer_does_nothing_on_postgres(tmp_path: Path, engine: str) -> None:
    async with node(tmp_path) as h:
        indexer = h.node.fulltext
        assert indexer.active is (engine == "sqlite")
        if engine == "postgres":
            await indexer.start()
            assert indexer._task is None
            await indexer.drain()
            assert indexer.writes == 0


# -- the migration on a database the trigger indexed ------------------------------------------
def _fact(i: int) -> NewFact:
    words = ["heron", "egret heron", "stork", "heron heron crane"][i % 4]
    if i % 5 == 4:  # reserved metadata: never indexed
        return NewFact(f"user:r{i}", "stigmem:ttl", "number", "30", "agent:bot", 1.0, "company")
    if i % 7 == 6:
        return NewFact(f"user:n{i}", "note:empty", "null", "null", "agent:bot", 1.0, "company")
    return NewFact(f"user:f{i}", f"note:{words.split()[0]}", "text", words, "agent:bot", 1.0,
                   "company")  # fmt: skip


def _insert(db: Database, facts: range) -> None:
    ctx = WriteContext(FakeClock(), HybridClock(lambda: NOW_MS))
    for i in facts:
        db.write_sync(insert_row_txn, ctx, _fact(i))


def _index_state(path: Path) -> tuple[list[Any], list[Any], list[Any]]:
    """Everything BM25 and recall's term counts read from the index."""
    with closing(sqlite3.connect(path)) as conn:
        vocab = conn.execute("SELECT term, doc, cnt FROM facts_fts_vocab ORDER BY term").fetchall()
        ranks = conn.execute(
            "SELECT rowid, round(bm25(facts_fts, 1.0, 0.5, 1.0), 9) FROM facts_fts"
            " WHERE facts_fts MATCH 'heron OR stork OR null' ORDER BY rowid"
        ).fetchall()
        docs = conn.execute("SELECT id, sz FROM facts_fts_docsize ORDER BY id").fetchall()
    return vocab, ranks, docs


@pytest.mark.sqlite_only
def test_the_migration_keeps_what_the_trigger_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the facts indexed by the old trigger, the migration, the other half caught up:
    the index is the one the trigger alone would have built (nothing indexed twice)."""
    every = migrate_module.known_migrations
    before = [m for m in every() if m.version < 8]
    assert [m.name for m in every() if m.version == 8] == ["fulltext_catchup"]
    with monkeypatch.context() as patch:  # databases of the schema before 0008
        patch.setattr(migrate_module, "known_migrations", lambda engine="sqlite": before)
        for name, count in (("reference.db", 40), ("upgraded.db", 20)):
            db = Database(tmp_path / name)
            db.open()
            _insert(db, range(count))  # the trigger indexes them
            db.close()
    upgraded = Database(tmp_path / "upgraded.db")
    upgraded.open()  # applies 0008
    try:
        assert upgraded.read_sync(backlog_txn) == 0
        [(top,)] = pg.rows(upgraded, "SELECT MAX(seq) FROM facts")
        assert pg.rows(upgraded, "SELECT seq FROM facts_fts_watermark") == [(top,)]
        trigger = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'facts_fts%'"
        assert pg.rows(upgraded, trigger) == []
        _insert(upgraded, range(20, 40))
        assert upgraded.read_sync(backlog_txn) == 20
        left = 1
        while left:
            left = upgraded.write_sync(lambda cur: cur.dialect.fulltext.catch_up(cur, 6))
    finally:
        upgraded.close()
    state = _index_state(tmp_path / "upgraded.db")
    assert state == _index_state(tmp_path / "reference.db")
    vocab = {term: doc for term, doc, _ in state[0]}
    assert vocab["heron"] == sum(1 for i in range(40) if "heron" in _fact(i).value_v)


@pytest.mark.sqlite_only
def test_processes_sharing_the_file_never_index_a_fact_twice(tmp_path: Path) -> None:
    """Two databases on one file (as two node processes) catch up at the same time."""
    first, second = Database(tmp_path / "n.db"), Database(tmp_path / "n.db")
    first.open()
    second.open()
    try:
        _insert(first, range(60))

        def catch_up(db: Database) -> None:
            while db.write_sync(lambda cur: cur.dialect.fulltext.catch_up(cur, 4)):
                pass

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(catch_up, (first, second)))
        assert second.read_sync(backlog_txn) == 0
    finally:
        first.close()
        second.close()
    vocab, _, docs = _index_state(tmp_path / "n.db")
    ordinary = [i for i in range(60) if not _fact(i).reserved]
    assert [seq for seq, _ in docs] == [i + 1 for i in ordinary]
    herons = {term: doc for term, doc, _ in vocab}["heron"]
    assert herons == sum(1 for i in ordinary if "heron" in _fact(i).value_v)
