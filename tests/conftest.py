"""Shared fixtures: in-process nodes on real storage, driven over ASGI.

Storage is SQLite, or PostgreSQL for the storage-sensitive packages (``tests.pg``): their
tests run once per engine (``engine`` is ``sqlite`` or ``postgres``), and ``make_settings``
points each node at its own database of the test's engine. A test that only makes sense on
SQLite (file modes, pragmas) is marked ``@pytest.mark.sqlite_only``; one about PostgreSQL
alone (several processes on one server) ``@pytest.mark.postgres_only``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.app import create_app
from stigmem_node.clock import FakeClock
from stigmem_node.config import Settings
from stigmem_node.node import Node
from tests import pg

ADMIN_KEY = "test-admin-key-0123456789abcdefghijklmnop"
# Packages whose tests run on both engines (storage matters to them).
BOTH_ENGINES = frozenset(
    {"facts", "conflicts", "gardens", "identity", "decay", "jobs", "recall", "graph", "lint"}
    | {"db", "cluster", "federation", "auth"}
)
_storage: pg.Storage | None = None  # the running test's (set by the ``_storage`` fixture)


def pytest_configure(config: pytest.Config) -> None:
    pg.configure()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    package = metafunc.module.__name__.split(".")[1] if "." in metafunc.module.__name__ else ""
    if "engine" not in metafunc.fixturenames or package not in BOTH_ENGINES:
        return
    if metafunc.definition.get_closest_marker("postgres_only") is not None:
        metafunc.parametrize("engine", ["postgres"], indirect=True, scope="session")
    elif metafunc.definition.get_closest_marker("sqlite_only") is None:
        metafunc.parametrize("engine", pg.ENGINES, indirect=True, scope="session")


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> str:
    """The storage engine of this test's nodes: ``sqlite`` unless parametrised."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def pg_server() -> pg.PgServer | str:
    """The PostgreSQL test server, or why there is none (asked for lazily)."""
    return pg.connect_server()


@pytest.fixture(autouse=True)
def _storage_for_test(engine: str, request: pytest.FixtureRequest) -> Iterator[pg.Storage]:
    """Where this test's nodes keep their data; PostgreSQL databases are dropped after it."""
    global _storage
    storage = new_storage(engine, request)
    previous, _storage = _storage, storage
    try:
        yield storage
    finally:
        _storage = previous
        storage.close()


@pytest.fixture
def storage(_storage_for_test: pg.Storage) -> pg.Storage:
    """This test's storage (``new_database_url`` for databases of its own)."""
    return _storage_for_test


def new_storage(engine: str, request: pytest.FixtureRequest) -> pg.Storage:
    """Storage of ``engine`` (for fixtures of wider scope than one test, which close it)."""

    def server() -> pg.PgServer:
        found = request.getfixturevalue("pg_server")
        if isinstance(found, str):
            pg.unavailable(found)
        return found

    if engine == "postgres":
        server()  # skip (or fail in CI) at once when there is no server
    return pg.Storage(engine, server)


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No STIGMEM_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("STIGMEM_"):
            monkeypatch.delenv(name)


def make_settings(
    tmp_path: Path, *, storage: pg.Storage | None = None, **overrides: Any
) -> Settings:
    """Test settings; on PostgreSQL, the database of the node whose data path this is."""
    base: dict[str, Any] = {
        "db_path": tmp_path / "node.db",
        "bootstrap_key": ADMIN_KEY,
        "sqlite_synchronous": "normal",
    }
    base.update(overrides)
    storage = storage or _storage
    if storage is not None and "database_url" not in overrides:
        base.update(storage.settings_for(base["db_path"]))
    return Settings(**base)


def cli_env(tmp_path: Path, **overrides: Any) -> dict[str, str]:
    """Environment pointing the CLI at the database of the node ``make_settings`` makes for
    these arguments (its ``--db`` file on SQLite; ``STIGMEM_DATABASE_URL`` on PostgreSQL)."""
    url = make_settings(tmp_path, **overrides).database_url
    return {"STIGMEM_DATABASE_URL": url} if url else {}


class NodeHarness:
    """One running in-process node: its app, node object, clock and an admin client."""

    def __init__(self, app: Any, clock: FakeClock | None) -> None:
        self.app = app
        self.node: Node = app.state.node
        self.clock = clock

    def client(self, key: str | None = ADMIN_KEY) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            headers=headers,
        )


async def start_node(
    tmp_path: Path,
    *,
    clock: FakeClock | None = None,
    storage: pg.Storage | None = None,
    **overrides: Any,
) -> AsyncIterator[NodeHarness]:
    app = create_app(make_settings(tmp_path, storage=storage, **overrides), clock=clock)
    async with app.router.lifespan_context(app):
        yield NodeHarness(app, clock)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    """A node with auth required and the admin key registered."""
    async for h in start_node(tmp_path):
        yield h


@pytest.fixture
async def client(harness: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of ``harness``."""
    async with harness.client() as c:
        yield c


def fact_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entity": "user:alice",
        "relation": "pref:color",
        "value": {"type": "string", "v": "blue"},
        "source": "agent:bot",
        "scope": "company",
    }
    body.update(overrides)
    return body
