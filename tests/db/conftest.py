"""Fixtures of the storage tests: a bare database of the test's engine, and a gate that holds
its writer thread (writes queued behind it share the next group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stigmem_node.db import Database
from tests import pg
from tests.db.support import Gate, new_database


@pytest.fixture
def db(tmp_path: Path, storage: pg.Storage) -> Iterator[Database]:
    database = new_database(storage, tmp_path)
    database.open()
    yield database
    database.close()


@pytest.fixture
async def gate(db: Database) -> AsyncIterator[tuple[Gate, asyncio.Task[str]]]:
    g = Gate()
    task = asyncio.create_task(db.write("gate", g.txn))
    await asyncio.to_thread(g.entered.wait, 10)
    yield g, task
    g.release.set()
