"""The commit sequence under concurrent writers in several processes' worth of connections.

Two ``Database`` objects (each with its own writer connection and thread, as two node
processes have) write facts to one database at once, with deliberately slow transactions and
items that fail and roll back (on PostgreSQL they burn sequence numbers). A tailer on a third
connection keeps reading ``seq > last seen``, as a federation peer or a keyset page does. It
must see every committed fact: a sequence number drawn by a transaction that commits after a
larger one was visible would be skipped, and this test would catch it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from stigmem_node.clock import SystemClock
from stigmem_node.db import Cursor, Database
from stigmem_node.db.postgres import PostgresEngine
from stigmem_node.facts.hlc import HybridClock, parse_hlc
from stigmem_node.facts.store import NewFact, WriteContext, insert_row_txn, observe_newest_hlc_txn
from tests import pg
from tests.conftest import make_settings

WRITERS_PER_DB = 6
ITEMS_PER_WRITER = 25


def _database(tmp_path: Path, storage: pg.Storage) -> Database:
    settings = make_settings(tmp_path, storage=storage)
    if settings.database_url:
        return Database(PostgresEngine(settings.database_url))
    return Database(settings.db_path, synchronous="normal")


def _write_txn(cur: Cursor, ctx: WriteContext, tag: str, rows: int, fail: bool) -> list[str]:
    ids = []
    for n in range(rows):
        fact = NewFact(
            entity=f"user:{tag}", relation=f"rel:n{n}", value_type="string", value_v=tag,
            source="agent:test", confidence=1.0, scope="company",
        )  # fmt: skip
        insert_row_txn(cur, ctx, fact)
        ids.append(fact.id)
        time.sleep(0.0005)  # a slow transaction: others queue behind it or commit around it
    if fail:
        raise ValueError(f"{tag} rolls back")
    return ids


class Tailer(threading.Thread):
    """Reads ``seq > last`` until told to stop and caught up; records what it saw, in order."""

    def __init__(self, settings: object) -> None:
        super().__init__(daemon=True)
        self.conn = pg.RawConnection(settings)
        self.seen: list[int] = []
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                finishing = self.done.is_set()
                last = self.seen[-1] if self.seen else 0
                rows = self.conn.execute(
                    "SELECT seq FROM facts WHERE seq > ? ORDER BY seq", (last,)
                ).fetchall()
                self.seen.extend(int(r[0]) for r in rows)
                if finishing and not rows:
                    return
                time.sleep(0.001)
        except BaseException as exc:
            self.error = exc
        finally:
            self.conn.close()


async def test_a_tailer_misses_no_fact_of_concurrent_writers(
    tmp_path: Path, storage: pg.Storage
) -> None:
    databases = [_database(tmp_path, storage) for _ in range(2)]
    contexts = []
    for db in databases:
        db.open()
        clock = SystemClock()
        hlc = HybridClock(lambda c=clock: int(c.now().timestamp() * 1000))  # type: ignore[misc]
        db.on_write_begin = lambda cur, h=hlc: observe_newest_hlc_txn(cur, h)  # type: ignore[misc]
        contexts.append(WriteContext(clock=clock, hlc=hlc))
    tailer = Tailer(make_settings(tmp_path, storage=storage))
    tailer.start()
    try:

        async def writer(d: int, w: int) -> list[str]:
            written: list[str] = []
            for i in range(ITEMS_PER_WRITER):
                tag, fail = f"d{d}w{w}i{i}", i % 7 == 3
                try:
                    written += await databases[d].write(
                        "put", _write_txn, contexts[d], tag, 1 + i % 3, fail
                    )
                except ValueError:
                    assert fail
            return written

        results = await asyncio.gather(
            *(writer(d, w) for d in range(2) for w in range(WRITERS_PER_DB))
        )
    finally:
        tailer.done.set()
        tailer.join(30)
        for db in databases:
            db.close()
    assert tailer.error is None, tailer.error
    written = {fact_id for ids in results for fact_id in ids}
    with pg.RawConnection(make_settings(tmp_path, storage=storage)) as conn:
        stored = conn.execute("SELECT seq, id, hlc FROM facts ORDER BY seq").fetchall()
    assert {row[1] for row in stored} == written  # nothing lost, nothing rolled back kept
    seqs = [int(row[0]) for row in stored]
    assert len(set(seqs)) == len(seqs)
    assert tailer.seen == seqs  # seen in commit order, and none skipped
    hlcs = [parse_hlc(row[2]) for row in stored]
    assert hlcs == sorted(set(hlcs))  # HLC order is commit order, across both writers
