"""PostgreSQL for the test suite: a real server, a migrated template, a database per node.

The server is the one ``scripts/postgres-test-server.sh`` starts: its URL comes from
``STIGMEM_TEST_DATABASE_URL``, else from the ``.pg/url`` file the script writes. The schema is
migrated once per code version into a template database (``stigmem_tpl_<hash of the
migrations>``, created under an advisory lock, so parallel workers share it); every node of a
test gets a fresh copy (``CREATE DATABASE ... TEMPLATE``), dropped when the test ends.

Without a server, PostgreSQL-parametrised tests skip, saying how to start one; with
``CI=true`` they fail instead (CI must test both engines).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

from stigmem_node.db.postgres import PgCursor, PostgresEngine

ENGINES = ("sqlite", "postgres")
ROOT = Path(__file__).resolve().parent.parent
URL_ENV = "STIGMEM_TEST_DATABASE_URL"
TEMPLATE_LOCK = 0x5354_4D54_504C_4154  # any fixed key of ours
HOW = f"start one with scripts/postgres-test-server.sh (or set {URL_ENV})"


def admin_url() -> str | None:
    """The test server's URL (its maintenance database), if one is configured.

    Read once, when the session starts (tests then clear every ``STIGMEM_*`` variable).
    """
    if _configured:
        return _configured[0]
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url
    path = Path(os.environ.get("STIGMEM_PG_DIR", ROOT / ".pg")) / "url"
    return path.read_text().strip() if path.exists() else None


_configured: list[str | None] = []


def configure() -> None:
    """Remember the server's URL before any test runs (``pytest_configure``)."""
    _configured[:] = [admin_url()]


def unavailable(reason: str) -> NoReturn:
    """Skip (locally) or fail (in CI) a PostgreSQL test that has no server."""
    message = f"PostgreSQL unavailable: {reason}; {HOW}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def database_url(admin: str, name: str) -> str:
    """``admin`` with its database name replaced by ``name``."""
    base, sep, query = admin.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}{sep}{query}"


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    files = resources.files("stigmem_node.db.migrations")
    for entry in sorted(files.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()[:16]


class PgServer:
    """The test server of this session: the template and the databases made from it."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self._template: str | None = None
        self.error: str | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin, autocommit=True, connect_timeout=5)

    def template(self) -> str:
        """The migrated template database (created once per migrations version)."""
        if self._template is None:
            name = f"stigmem_tpl_{_migrations_digest()}"
            with self._connect() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK,))
                try:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                    ).fetchone()
                    if not exists:
                        self._build_template(conn, name)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK,))
            self._template = name
        return self._template

    def _build_template(self, conn: psycopg.Connection[Any], name: str) -> None:
        building = f"{name}_building"
        conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{building}" TEMPLATE template0')
        engine = PostgresEngine(database_url(self.admin, building), pool_size=1)
        engine.open()
        engine.close()
        conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        # Templates of older migrations are no longer of use.
        stale = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'stigmem\\_tpl\\_%%'"
            " AND datname <> %s",
            (name,),
        ).fetchall()
        for (old,) in stale:
            conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')

    def create_database(self) -> tuple[str, str]:
        """A fresh copy of the template: ``(name, url)``."""
        template = self.template()
        name = f"stigmem_t_{uuid.uuid4().hex[:20]}"
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name, database_url(self.admin, name)

    def drop_database(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connect_server() -> PgServer | str:
    """The session's server, or why there is none."""
    url = admin_url()
    if url is None:
        return "no server configured"
    server = PgServer(url)
    try:
        with server._connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to the test server ({str(exc).strip()})"
    return server


class Storage:
    """The storage of the nodes a test starts: SQLite files, or one PostgreSQL database per
    node data path (a restarted node finds its database again)."""

    def __init__(self, engine: str, server: Callable[[], PgServer]) -> None:
        self.engine = engine
        self._server = server
        self._databases: dict[Path, tuple[str, str]] = {}
        self._others: list[str] = []  # databases of their own (``new_database_url``)

    def settings_for(self, db_path: Path) -> dict[str, Any]:
        """Settings overrides for a node whose (SQLite) data path is ``db_path``."""
        if self.engine == "sqlite":
            return {}
        key = Path(db_path).resolve()
        if key not in self._databases:
            self._databases[key] = self._server().create_database()
        return {"database_url": self._databases[key][1]}

    def new_database_url(self) -> str:
        """A fresh PostgreSQL database of its own (e.g. for node processes)."""
        name, url = self._server().create_database()
        self._others.append(name)
        return url

    def close(self) -> None:
        for name in [name for name, _ in self._databases.values()] + self._others:
            with contextlib.suppress(psycopg.Error):
                self._server().drop_database(name)
        self._databases.clear()
        self._others.clear()


def rows(db: Any, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """Committed rows through the node's own ``Database`` (either engine)."""
    return [tuple(r) for r in db.read_sync(lambda cur: cur.execute(sql, params).fetchall())]


def write(db: Any, sql: str, params: Any = ()) -> int:
    """Run one statement in a write transaction of ``db``, bypassing every store (to show
    what the database itself refuses); the number of rows it touched."""
    return int(db.write_sync(lambda cur: cur.execute(sql, params).rowcount))


# What a refused change raises on either engine (triggers, constraints).
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)


class RawConnection:
    """A connection of its own to a node's database, outside the node (either engine), for
    tests of what the database itself allows. SQL is written as for SQLite. Autocommit unless
    ``begin()``; inside a transaction a failing statement rolls back alone (a savepoint), so
    a test may go on after an expected refusal."""

    def __init__(self, settings: Any) -> None:
        self.postgres = bool(settings.database_url)
        self._in_txn = False
        if self.postgres:
            self._pg = psycopg.connect(settings.database_url, autocommit=True)
            self._cur: Any = PgCursor(self._pg.cursor())
        else:
            self._sqlite = sqlite3.connect(
                settings.db_path, isolation_level=None, check_same_thread=False
            )
            self._cur = self._sqlite.cursor()

    def execute(self, sql: str, params: Any = ()) -> Any:
        if not (self.postgres and self._in_txn):
            return self._cur.execute(sql, params)
        self._cur.execute("SAVEPOINT raw")
        try:
            result = self._cur.execute(sql, params)
        except BaseException:
            self._cur.execute("ROLLBACK TO raw")
            raise
        self._cur.execute("RELEASE raw")
        return result

    def begin(self) -> None:
        self._cur.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")
        self._in_txn = True

    def commit(self) -> None:
        self._cur.execute("COMMIT")
        self._in_txn = False

    def rollback(self) -> None:
        self._cur.execute("ROLLBACK")
        self._in_txn = False

    def close(self) -> None:
        if self._in_txn:
            self.rollback()
        (self._pg if self.postgres else self._sqlite).close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
