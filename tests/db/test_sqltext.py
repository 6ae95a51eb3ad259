"""SQLite-style SQL rewritten for PostgreSQL (``db.sqltext``), and the migrations tree."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from stigmem_node.db.migrate import known_migrations
from stigmem_node.db.postgres import COMMIT_LOCK_KEY
from stigmem_node.db.sqltext import UnsupportedSQL, to_postgres

pytestmark = pytest.mark.sqlite_only  # no database: once is enough


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = %s AND y = %s"),
        ("SELECT a FROM t WHERE x = :x", "SELECT a FROM t WHERE x = %(x)s"),
        ("SELECT 'a?b :c %' WHERE x LIKE 'p%'", "SELECT 'a?b :c %%' WHERE x LIKE 'p%%'"),
        ('SELECT "odd?name" FROM t -- why? 100%', 'SELECT "odd?name" FROM t -- why? 100%%'),
        ("SELECT x::text FROM t WHERE y = :y", "SELECT x::text FROM t WHERE y = %(y)s"),
        ("WHERE a IS ?", "WHERE a IS NOT DISTINCT FROM %s"),
        ("WHERE b IS NOT :b", "WHERE b IS DISTINCT FROM %(b)s"),
        ("WHERE g.x IS f.x", "WHERE g.x IS NOT DISTINCT FROM f.x"),
        ("WHERE a IS NULL AND b IS NOT NULL", "WHERE a IS NULL AND b IS NOT NULL"),
        ("WHERE c IS TRUE OR d IS NOT FALSE", "WHERE c IS TRUE OR d IS NOT FALSE"),
        ("WHERE a IS NOT DISTINCT FROM b", "WHERE a IS NOT DISTINCT FROM b"),
        (
            "INSERT OR IGNORE INTO r (a) SELECT id FROM f WHERE x = ?",
            "INSERT INTO r (a) SELECT id FROM f WHERE x = %s ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT OR IGNORE INTO r (a) VALUES (?) RETURNING a;",
            "INSERT INTO r (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING a",
        ),
        (
            "SELECT value FROM json_each(:g)",
            "SELECT value FROM jsonb_array_elements_text(CAST(%(g)s AS jsonb)) AS json_each(value)",
        ),
        (
            "FROM json_each(?) AS e CROSS JOIN facts f INDEXED BY facts_triple ON f.e = e.value",
            "FROM jsonb_array_elements_text(CAST(%s AS jsonb)) AS e(value)"
            " INNER JOIN facts f ON f.e = e.value",
        ),
        ("SELECT * FROM a CROSS JOIN b WHERE x = 1", "SELECT * FROM a CROSS JOIN b WHERE x = 1"),
        ("SELECT x FROM t NOT INDEXED WHERE y = 1", "SELECT x FROM t WHERE y = 1"),
    ],
)  # fmt: skip
def test_rewrites(sqlite: str, postgres: str) -> None:
    assert to_postgres(sqlite) == postgres


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT OR REPLACE INTO t (a) VALUES (?)",
        "DELETE FROM t WHERE rowid IN (SELECT rowid FROM t)",
        "PRAGMA table_info(facts)",
        "SELECT value FROM json_each",
    ],
)
def test_sqlite_only_constructs_are_refused_clearly(sql: str) -> None:
    with pytest.raises(UnsupportedSQL):
        to_postgres(sql)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_every_engine_has_every_migration_under_one_name(kind: str) -> None:
    mine = [(m.version, m.name) for m in known_migrations(kind)]
    assert mine == [(m.version, m.name) for m in known_migrations("sqlite")]
    assert [v for v, _ in mine] == list(range(1, len(mine) + 1))


def test_the_commit_lock_of_the_triggers_is_the_writers() -> None:
    sql = (resources.files("stigmem_node.db.migrations") / "0001_core.postgres.sql").read_text()
    assert re.findall(r"pg_advisory_xact_lock\((\d+)\)", sql) == [str(COMMIT_LOCK_KEY)]
