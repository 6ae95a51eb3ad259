"""First run: the admin key file (0600, path logged, key never), STIGMEM_BOOTSTRAP_KEY."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stigmem_node.app import create_app
from stigmem_node.config import Settings
from tests.conftest import start_node
from tests.facts.support import count_rows


async def test_first_start_writes_a_private_admin_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db_dir = tmp_path / "data"
    async for node in start_node(tmp_path, db_path=db_dir / "node.db", bootstrap_key=""):
        key_file = db_dir / "admin.key"
        assert key_file.exists()
        assert key_file.stat().st_mode & 0o777 == 0o600
        raw = key_file.read_text().strip()
        assert len(raw) >= 32
        assert str(key_file) in caplog.text
        assert raw not in caplog.text
        async with node.client(raw) as c:
            me = (await c.get("/v1/me")).json()
        assert me["entity_uri"] == "agent:admin"
        assert "admin" in me["permissions"]
        async with node.client(raw) as c:
            response = await c.get("/v1/facts", headers={"Authorization": f"Bearer {raw}"})
        assert response.status_code == 200
    assert raw not in caplog.text  # not even the request log


async def test_second_start_keeps_the_key(tmp_path: Path) -> None:
    async for node in start_node(tmp_path, bootstrap_key=""):
        first = (tmp_path / "admin.key").read_text()
        assert count_rows(node, "api_keys") == 1
    async for node in start_node(tmp_path, bootstrap_key=""):
        assert (tmp_path / "admin.key").read_text() == first
        assert count_rows(node, "api_keys") == 1


async def test_existing_key_file_is_registered_when_the_store_is_empty(tmp_path: Path) -> None:
    raw = "operator-kept-key-0123456789abcdefghijklm"
    (tmp_path / "admin.key").write_text(raw + "\n")
    async for node in start_node(tmp_path, bootstrap_key=""):
        async with node.client(raw) as c:
            assert (await c.get("/v1/me")).status_code == 200


async def test_bootstrap_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = "container-key-0123456789abcdefghijklmnop"
    monkeypatch.setenv("STIGMEM_BOOTSTRAP_KEY", raw)
    monkeypatch.setenv("STIGMEM_DB_PATH", str(tmp_path / "env.db"))
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            me = await c.get("/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200
    assert me.json()["permissions"] == ["admin", "read", "write"]
    assert not (tmp_path / "admin.key").exists()
    assert raw not in caplog.text


async def test_too_short_bootstrap_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        async for _ in start_node(tmp_path, bootstrap_key="short"):
            pass
    assert not (tmp_path / "admin.key").exists()
