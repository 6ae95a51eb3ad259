"""PostgreSQL engine under failure: a lost connection is replaced, an unreachable database is
a 503 ``database_unavailable`` (never a traceback or a hang)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from stigmem_node.db import Cursor, Database
from stigmem_node.db.postgres import PostgresEngine
from stigmem_node.errors import Unavailable
from tests import pg

pytestmark = pytest.mark.postgres_only


def _put(cur: Cursor, key: str) -> str:
    cur.execute("INSERT INTO node_meta (key, value) VALUES (?, 'v')", (key,))
    return key


def _keys(cur: Cursor) -> set[str]:
    return {row[0] for row in cur.execute("SELECT key FROM node_meta").fetchall()}


@pytest.fixture
def db(storage: pg.Storage) -> Iterator[Database]:
    database = Database(PostgresEngine(storage.new_database_url(), pool_size=2, wait_s=0.5))
    database.open()
    yield database
    database.close()


def _terminate(db: Database, application: str = "stigmem-node") -> int:
    """Kill every server connection of ``db`` (as a restart or a network cut would)."""
    url = db.engine.url  # type: ignore[attr-defined]
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(pg.admin_url() or "", autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s",
            (name, application),
        ).fetchall()
    return len(rows)


async def test_a_lost_connection_is_replaced_for_writes_and_reads(db: Database) -> None:
    assert await db.write("put", _put, "before") == "before"
    assert await db.read("keys", _keys) == {"before"}
    assert _terminate(db) >= 2  # the writer and the pooled reader
    assert await db.write("put", _put, "after") == "after"  # retried on a new connection
    assert await db.read("keys", _keys) == {"before", "after"}


async def test_an_unreachable_database_answers_unavailable(
    db: Database, storage: pg.Storage
) -> None:
    await db.write("put", _put, "kept")
    url = db.engine.url  # type: ignore[attr-defined]
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(pg.admin_url() or "", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with pytest.raises(Unavailable) as write:
        await db.write("put", _put, "lost")
    assert write.value.status == 503
    assert write.value.detail == {
        "code": "database_unavailable",
        "message": "the database is unavailable",
    }
    with pytest.raises(Unavailable):
        await db.read("keys", _keys)
