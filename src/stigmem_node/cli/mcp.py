"""``stigmem mcp``: serve the memory tools to an MCP host over stdio."""

from __future__ import annotations

import anyio
import click

from stigmem_node.client import AsyncStigmemClient
from stigmem_node.client.config import API_KEY_ENV, URL_ENV
from stigmem_node.client.transport import DEFAULT_TIMEOUT_S, DEFAULT_URL


@click.command("mcp")
@click.option("--url", envvar=URL_ENV, default=DEFAULT_URL, show_default=True,
              help=f"Node base URL (env {URL_ENV}).")  # fmt: skip
@click.option("--api-key", envvar=API_KEY_ENV, default=None,
              help=f"API key (env {API_KEY_ENV}).")  # fmt: skip
@click.option("--source", envvar="STIGMEM_MCP_SOURCE", default=None,
              help="Source recorded on asserted facts (env STIGMEM_MCP_SOURCE; "
                   "default: the API key's entity).")  # fmt: skip
@click.option("--timeout", "timeout_s", type=float, default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Seconds to wait for the node on each call.")  # fmt: skip
def mcp(url: str, api_key: str | None, source: str | None, timeout_s: float) -> None:
    """Serve the memory tools over stdio (configure it in Claude Desktop, Cursor, VS Code...).

    Tools: assert_fact, query_facts, get_fact, retract_fact, recall, list_conflicts,
    resolve_conflict, lint_scope.
    """
    try:
        client = AsyncStigmemClient(url, api_key, timeout_s=timeout_s)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not api_key:
        click.echo(f"stigmem mcp: warning: {API_KEY_ENV} is not set; calls will fail with 401 "
                   "unless the node runs without auth", err=True)  # fmt: skip
    # Imported here: the MCP SDK is heavy, and the other commands should not pay for it.
    from stigmem_node.mcp.server import serve_stdio

    try:
        anyio.run(serve_stdio, client, source)
    except KeyboardInterrupt:  # Ctrl-C when run by hand: end quietly, as hosts expect
        raise SystemExit(130) from None
