"""Import the standalone scripts under ``infra/`` (not a package) in tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
SOAK = REPO / "infra" / "soak"

if str(SOAK) not in sys.path:
    sys.path.insert(0, str(SOAK))


def load(name: str) -> ModuleType:
    """The module ``infra/soak/<name>.py``."""
    return importlib.import_module(name)
