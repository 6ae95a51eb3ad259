"""``stigmem``: the operator's command line. One module per command group; no SQL here."""

from __future__ import annotations

import click

from stigmem_node.cli import decay, export, facts, federation, keys, migrate
from stigmem_node.cli import mcp as mcp_command
from stigmem_node.cli import tls as tls_command


@click.group()
def main() -> None:
    """Administer a Stigmem node."""


@main.command()
def serve() -> None:
    """Run the node (same as stigmem-node)."""
    from stigmem_node.__main__ import main as serve_main

    serve_main()


for group in (keys.auth, keys.keys, *facts.COMMANDS, mcp_command.mcp, *federation.COMMANDS,
              *decay.COMMANDS, *export.COMMANDS, *migrate.COMMANDS):  # fmt: skip
    main.add_command(group)
main.add_command(tls_command.tls)
