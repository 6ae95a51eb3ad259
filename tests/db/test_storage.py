"""Storage: migrations, append-only tables, durability settings (CONTRACT §2, §7)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from stigmem_node.app import create_app
from stigmem_node.config import Settings
from stigmem_node.db import Cursor, Database, SchemaTooNew
from stigmem_node.db.migrate import known_migrations
from tests import pg
from tests.conftest import NodeHarness, fact_body, make_settings
from tests.facts.support import count_rows


def _open(path: Path, **kwargs: object) -> Database:
    db = Database(path, **kwargs)  # type: ignore[arg-type]
    db.open()
    return db


def _open_settings(tmp_path: Path) -> tuple[Settings, Database]:
    """An opened (migrated) database of the test's engine, and the settings naming it."""
    settings = make_settings(tmp_path)
    db = Database.from_settings(settings)
    db.open()
    return settings, db


def _versions(db: Database) -> list[tuple[int, str]]:
    return [
        (int(v), str(n))
        for v, n in pg.rows(db, "SELECT version, name FROM schema_migrations ORDER BY version")
    ]


def test_migrations_are_recorded(tmp_path: Path, engine: str) -> None:
    _, db = _open_settings(tmp_path)
    try:
        assert _versions(db) == [(m.version, m.name) for m in known_migrations(engine)]
        assert _versions(db)[0] == (1, "core")
    finally:
        db.close()


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    for _ in range(2):
        _, db = _open_settings(tmp_path)
        try:
            count = len(_versions(db))
        finally:
            db.close()
    assert count == len(known_migrations())


def _record_future(settings: Settings, version: int) -> None:
    with pg.RawConnection(settings) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 'x')",
            (version,),
        )


def test_newer_schema_refuses_to_start(tmp_path: Path) -> None:
    settings, db = _open_settings(tmp_path)
    db.close()
    _record_future(settings, known_migrations()[-1].version + 1)
    with pytest.raises(SchemaTooNew, match="newer than this node knows"):
        Database.from_settings(settings).open()


async def test_node_with_newer_schema_does_not_serve(tmp_path: Path) -> None:
    settings, db = _open_settings(tmp_path)
    db.close()
    _record_future(settings, 9999)
    app = create_app(settings)
    with pytest.raises(SchemaTooNew):
        async with app.router.lifespan_context(app):
            pass


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE facts SET confidence = 0", "facts are immutable: UPDATE refused"),
        ("UPDATE facts SET value_v = 'red'", "facts are immutable: UPDATE refused"),
        ("DELETE FROM facts", "facts are immutable: DELETE refused"),
        ("UPDATE audit_log SET event_type = 'x'", "audit log is append-only: UPDATE refused"),
        ("DELETE FROM audit_log", "audit log is append-only: DELETE refused"),
    ],
)
async def test_facts_and_audit_log_cannot_be_changed(
    harness: NodeHarness, client: httpx.AsyncClient, sql: str, message: str
) -> None:
    assert (await client.post("/v1/facts", json=fact_body())).status_code == 201
    facts, audit = count_rows(harness), count_rows(harness, "audit_log")
    assert facts == 1
    assert audit >= 1
    with pg.RawConnection(harness.node.settings) as conn:
        with pytest.raises(pg.INTEGRITY_ERRORS, match=message):
            conn.execute(sql)
        assert conn.execute("SELECT value_v, confidence FROM facts").fetchall() == [("blue", 1.0)]
    assert count_rows(harness) == facts
    assert count_rows(harness, "audit_log") == audit


@pytest.mark.sqlite_only
def test_defaults_are_wal_and_synchronous_full(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "a.db")
    assert settings.sqlite_synchronous == "full"
    db = _open(settings.db_path, synchronous=settings.sqlite_synchronous)
    try:
        assert db.write_sync(_pragma, "synchronous") == 2  # FULL
        assert db.read_sync(_pragma, "synchronous") == 2
        assert db.write_sync(_pragma, "foreign_keys") == 1
    finally:
        db.close()
    with closing(sqlite3.connect(settings.db_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.sqlite_only
def test_database_file_is_private(tmp_path: Path) -> None:
    _open(tmp_path / "a.db").close()
    assert (tmp_path / "a.db").stat().st_mode & 0o777 == 0o600


def _pragma(cur: Cursor, name: str) -> int:
    return int(cur.execute(f"PRAGMA {name}").fetchone()[0])


async def test_acknowledged_writes_survive_a_restart(tmp_path: Path) -> None:
    from tests.conftest import start_node

    async for node in start_node(tmp_path, sqlite_synchronous="full"):
        async with node.client() as c:
            created = (await c.post("/v1/facts", json=fact_body())).json()
            batch = await c.post("/v1/facts/batch", json={"facts": [fact_body(entity="user:b")]})
            assert batch.json()["accepted"] == 1
    async for node in start_node(tmp_path):
        async with node.client() as c:
            again = await c.get(f"/v1/facts/{created['id']}")
            assert again.status_code == 200
            assert again.json() == created
            assert (await c.get("/v1/facts")).json()["total"] == 2


@pytest.mark.sqlite_only
def test_an_invalid_database_url_is_refused_without_echoing_it() -> None:
    from stigmem_node.config import SettingsError, load_settings

    with pytest.raises(SettingsError, match=r"STIGMEM_DATABASE_URL: .*postgresql://") as bad:
        load_settings(database_url="mysql://user:hunter2@db/x")
    assert "hunter2" not in str(bad.value)
