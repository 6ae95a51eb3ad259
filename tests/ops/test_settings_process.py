"""An invalid setting stops ``python -m stigmem_node`` with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("name", "value"),
    [("STIGMEM_PORT", "abc"), ("STIGMEM_AUTH_REQUIRED", "maybe")],
)
def test_invalid_setting_stops_the_server(tmp_path: Path, name: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STIGMEM_")}
    env |= {name: value, "STIGMEM_DB_PATH": str(tmp_path / "x.db")}
    result = subprocess.run(
        [sys.executable, "-m", "stigmem_node"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert repr(value) in lines[0]
    assert not (tmp_path / "x.db").exists()  # nothing was started
