"""The host snippets in docs/agents.md stay valid JSON and launch ``stigmem mcp`` with its env."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from stigmem_node.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"


def test_every_json_snippet_configures_stigmem_mcp() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) == 4
    for block in blocks:
        config = json.loads(block)
        servers = config.get("mcpServers") or config["servers"]
        server = servers["stigmem"]
        assert server["command"].endswith("/.venv/bin/stigmem")
        assert server["args"] == ["mcp"]
        assert set(server["env"]) == {"STIGMEM_URL", "STIGMEM_API_KEY"}


def test_documented_cli_commands_exist() -> None:
    commands = re.findall(r"^(?:\.venv/bin/)?stigmem ([a-z]+(?: [a-z]+)?)", DOC.read_text(), re.M)
    assert commands
    for command in set(commands):
        result = CliRunner().invoke(main, [*command.split(), "--help"])
        assert result.exit_code == 0, (command, result.output)
