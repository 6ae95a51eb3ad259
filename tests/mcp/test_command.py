"""``stigmem mcp`` refuses a bad configuration before serving anything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stigmem_node.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "localhost:8765"], "must start with http:// or https://"),
        (["--timeout", "0"], "timeout_s must be a positive number"),
        (["--api-key", "two\nlines"], "the API key must be printable ASCII"),
    ],
)
def test_bad_configuration_exits_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["mcp", *args])
    assert result.exit_code == 2
    assert message in result.output
