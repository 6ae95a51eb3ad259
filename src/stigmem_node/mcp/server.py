"""``stigmem mcp``: the memory tools served over stdio with the official MCP SDK.

stdout carries the protocol, so nothing else may be printed there: logs go to stderr. The node
is reached lazily, per tool call, so the server starts (and lists its tools) even while the
node is down; a call then answers a tool error instead of failing the session.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from stigmem_node import __version__
from stigmem_node.client import AsyncStigmemClient
from stigmem_node.mcp.tools import READ_ONLY, TOOL_NAMES, MemoryTools

INSTRUCTIONS = """\
Stigmem is a shared memory of facts: (entity, relation, value), each with a source, a
confidence and a scope (local, team, company, public). Facts are never overwritten: a
different value for the same entity and relation is recorded as a contradiction, which you can
list and resolve. Use recall for questions in natural language, query_facts for exact lookups,
assert_fact to remember, retract_fact to withdraw something wrong. Name entities like
"user:alice" or "project:apollo" and relations with a namespace like "pref:color".
"""


def build_server(client: AsyncStigmemClient, source: str | None = None) -> MCPServer:
    """An MCP server exposing the memory tools through ``client``.

    ``source`` attributes asserted facts; None means the API key's identity.
    """
    server: MCPServer = MCPServer(
        "stigmem",
        title="Stigmem memory",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    tools = MemoryTools(client, source)
    for name in TOOL_NAMES:
        read_only = name in READ_ONLY
        annotations = ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=False,
            idempotent_hint=read_only or name in {"assert_fact", "retract_fact"},
            open_world_hint=False,
        )
        server.add_tool(getattr(tools, name), name=name, annotations=annotations)
    return server


async def serve_stdio(client: AsyncStigmemClient, source: str | None = None) -> None:
    """Serve the tools on stdin/stdout until the host closes stdin; closes ``client``."""
    async with client:
        await build_server(client, source).run_stdio_async()
