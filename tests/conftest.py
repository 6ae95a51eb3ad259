"""Shared fixtures: in-process nodes on a real SQLite file, driven over ASGI."""

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

ADMIN_KEY = "test-admin-key-0123456789abcdefghijklmnop"


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No STIGMEM_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("STIGMEM_"):
            monkeypatch.delenv(name)
    yield


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "db_path": tmp_path / "node.db",
        "bootstrap_key": ADMIN_KEY,
        "sqlite_synchronous": "normal",
    }
    base.update(overrides)
    return Settings(**base)


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
    tmp_path: Path, *, clock: FakeClock | None = None, **overrides: Any
) -> AsyncIterator[NodeHarness]:
    app = create_app(make_settings(tmp_path, **overrides), clock=clock)
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
