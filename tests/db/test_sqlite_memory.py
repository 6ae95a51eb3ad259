"""SQLite's per-connection memory (page cache, memory map) follows the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from stigmem_node.db import Cursor
from tests.conftest import start_node


def _pragmas(cur: Cursor) -> tuple[int, int]:
    cache = int(cur.execute("PRAGMA cache_size").fetchone()[0])
    mmap = int(cur.execute("PRAGMA mmap_size").fetchone()[0])
    return cache, mmap


@pytest.mark.sqlite_only
async def test_cache_and_mmap_settings_reach_every_connection(tmp_path: Path) -> None:
    async for harness in start_node(tmp_path, sqlite_cache_mb=8, sqlite_mmap_mb=0):
        db = harness.node.db
        assert await db.read("pragmas", _pragmas) == (-8 * 1024, 0)
        assert await db.write("pragmas", _pragmas) == (-8 * 1024, 0)
