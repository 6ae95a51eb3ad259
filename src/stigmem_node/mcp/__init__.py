"""MCP server of a Stigmem node: memory tools for agents, over stdio (``stigmem mcp``).

This package module stays light (no MCP SDK import) so the CLI can read its defaults cheaply.
"""

# Attribution of asserted facts when neither --source nor the key's identity is known.
DEFAULT_SOURCE = "agent:mcp"
