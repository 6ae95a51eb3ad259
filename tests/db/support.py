"""Helpers of the storage tests: a bare database of the test's engine, a write that holds
the writer thread, a plain insert, and the committed keys."""

from __future__ import annotations

import threading
from pathlib import Path

from stigmem_node.db import Cursor, Database
from stigmem_node.db.postgres import PostgresEngine
from tests import pg


class Gate:
    """A write that holds the writer thread until released, so others pile up behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def txn(self, cur: Cursor) -> str:
        self.entered.set()
        assert self.release.wait(10), "gate never released"
        return "gate"


def new_database(storage: pg.Storage, tmp_path: Path) -> Database:
    """A bare database of the test's engine (no node on it)."""
    if storage.engine == "postgres":
        return Database(PostgresEngine(storage.new_database_url()))
    return Database(tmp_path / "g.db", synchronous="normal")


def put_txn(cur: Cursor, key: str, fail: bool = False) -> str:
    cur.execute("INSERT INTO node_meta (key, value) VALUES (?, 'v')", (key,))
    if fail:
        raise ValueError(f"item {key} failed")
    return key


def keys_on_disk(db: Database) -> set[str]:
    """Committed keys (read on a reader connection, apart from the writer's)."""
    return {row[0] for row in pg.rows(db, "SELECT key FROM node_meta")}
