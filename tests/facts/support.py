"""Helpers shared by the core-node tests: raw rows and counts from the node's real database."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests import pg
from tests.conftest import NodeHarness, start_node


def count_rows(target: NodeHarness | Path, table: str = "facts", where: str = "1=1") -> int:
    """Committed rows in ``table``: of a running node (either engine), or of a SQLite file."""
    sql = f"SELECT COUNT(*) FROM {table} WHERE {where}"
    if isinstance(target, NodeHarness):
        return int(raw_rows(target, sql)[0][0])
    with closing(sqlite3.connect(target)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def raw_rows(target: NodeHarness, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Committed rows, read through the node's own database (either engine)."""
    return pg.rows(target.node.db, sql, params)


def json_headers() -> dict[str, str]:
    return {"content-type": "application/json"}


async def shared_node(
    tmp_path: Path, storage: pg.Storage | None = None
) -> AsyncIterator[NodeHarness]:
    """A node for a whole module of read-mostly tests (``STIGMEM_*`` of the shell ignored).

    Module-scoped fixtures are set up before the function-scoped ``_hermetic_env``, so this
    clears the environment itself while the settings are read. ``storage`` (from
    ``tests.conftest.new_storage``, closed by the caller) says where the node keeps its data.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("STIGMEM_"):
                patch.delenv(name)
        nodes = start_node(tmp_path, storage=storage or pg.Storage("sqlite", _no_server))
        harness = await anext(nodes)
    yield harness
    with contextlib.suppress(StopAsyncIteration):
        await anext(nodes)


def _no_server() -> pg.PgServer:
    raise AssertionError("a SQLite node asked for PostgreSQL")
