"""A node's lifespan may run more than once; the writer survives a non-Exception failure."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from stigmem_node.app import create_app
from stigmem_node.db import Cursor
from tests.conftest import ADMIN_KEY, fact_body, make_settings


async def test_lifespan_runs_twice_on_one_app(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    for round_ in range(2):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://t",
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            ) as client,
        ):
            created = await client.post("/v1/facts", json=fact_body(relation=f"r:{round_}"))
            assert created.status_code == 201
            page = await client.get("/v1/facts")
            assert page.json()["total"] == round_ + 1


def _exits(cur: Cursor) -> None:
    cur.execute("INSERT INTO node_meta (key, value) VALUES ('doomed', 'x')")
    raise SystemExit(3)


def _count(cur: Cursor) -> int:
    return int(cur.execute("SELECT COUNT(*) FROM node_meta WHERE key = 'doomed'").fetchone()[0])


async def test_writer_survives_a_base_exception(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        db = app.state.node.db
        with pytest.raises(RuntimeError, match="SystemExit"):
            await db.write("exits", _exits)
        assert await db.read("count", _count) == 0  # rolled back
        assert await db.write("count", _count) == 0  # the writer thread still serves
