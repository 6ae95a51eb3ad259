"""Helpers shared by the core-node tests: raw row counts on the node's real SQLite file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.conftest import NodeHarness


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
