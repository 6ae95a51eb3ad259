"""The database and its WAL/shared-memory files are private to the node's user."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from tests.conftest import fact_body, start_node


@pytest.mark.sqlite_only
async def test_database_wal_and_shm_are_0600(tmp_path: Path) -> None:
    async for harness in start_node(tmp_path, sqlite_synchronous="full"):
        async with harness.client() as client:
            created: httpx.Response = await client.post("/v1/facts", json=fact_body())
            assert created.status_code == 201
        db = harness.node.settings.db_path
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert path.exists(), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
