"""A real node process, and ``stigmem mcp`` sessions driven by the MCP SDK's own client."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.process import NodeProcess, clean_environ

McpSession = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess(Path(tmp_path_factory.mktemp("mcp-node"))).start()
    try:
        yield process
    finally:
        process.stop(check=False)  # clean shutdown is the process tests' concern


def mcp_command() -> tuple[str, list[str]]:
    """``stigmem mcp`` as an MCP host would launch it (the installed console script)."""
    script = Path(sys.executable).with_name("stigmem")
    if script.exists():
        return str(script), ["mcp"]
    return sys.executable, ["-c", "from stigmem_node.cli import main; main()", "mcp"]


@pytest.fixture
def mcp_session(node: NodeProcess) -> McpSession:
    """``async with mcp_session(url=..., api_key=...) as client``: a fresh server process.

    Defaults to the running node and its admin key; ``api_key=None`` leaves the variable unset.
    """

    @asynccontextmanager
    async def open_session(
        url: str | None = None,
        api_key: str | None = node.admin_key,
        env: dict[str, str] | None = None,
    ) -> AsyncIterator[Client]:
        environ = clean_environ() | (env or {})
        environ["STIGMEM_URL"] = url or node.base_url
        if api_key is not None:
            environ["STIGMEM_API_KEY"] = api_key
        command, args = mcp_command()
        params = StdioServerParameters(command=command, args=args, env=environ)
        async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
            yield client

    return open_session


@pytest.fixture
def unique() -> str:
    return f"user:m-{uuid.uuid4().hex[:12]}"
