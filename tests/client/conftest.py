"""A real node process shared by the client tests of one module, and clients for it.

Facts are immutable, so tests sharing a node keep apart by using their own entity
(``unique``), never by cleaning up.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stigmem_node.client import AsyncStigmemClient, StigmemClient
from tests.process import NodeProcess


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess(Path(tmp_path_factory.mktemp("client-node"))).start()
    try:
        yield process
    finally:
        # Clean shutdown is the process tests' concern, not the client's.
        process.stop(check=False)


@pytest.fixture
def memory(node: NodeProcess) -> Iterator[StigmemClient]:
    """A sync client of ``node`` with the admin key."""
    with StigmemClient(node.base_url, node.admin_key) as client:
        yield client


@pytest.fixture
async def amemory(node: NodeProcess) -> AsyncIterator[AsyncStigmemClient]:
    """An async client of ``node`` with the admin key."""
    async with AsyncStigmemClient(node.base_url, node.admin_key) as client:
        yield client


@pytest.fixture
def unique() -> str:
    """An entity no other test uses."""
    return f"user:t-{uuid.uuid4().hex[:12]}"
