"""Helpers shared by the core-node tests: raw row counts on the node's real SQLite file."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NodeHarness, start_node


def count_rows(target: NodeHarness | Path, table: str = "facts", where: str = "1=1") -> int:
    """Rows in ``table`` read through a separate sqlite3 connection (committed data only)."""
    path = target.node.db.path if isinstance(target, NodeHarness) else target
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])


def raw_rows(target: NodeHarness, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(target.node.db.path)) as conn:
        return list(conn.execute(sql, params).fetchall())


def json_headers() -> dict[str, str]:
    return {"content-type": "application/json"}


async def shared_node(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    """A node for a whole module of read-mostly tests (``STIGMEM_*`` of the shell ignored).

    Module-scoped fixtures are set up before the function-scoped ``_hermetic_env``, so this
    clears the environment itself while the settings are read.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("STIGMEM_"):
                patch.delenv(name)
        nodes = start_node(tmp_path)
        harness = await anext(nodes)
    yield harness
    with contextlib.suppress(StopAsyncIteration):
        await anext(nodes)
