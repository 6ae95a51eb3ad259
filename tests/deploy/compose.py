"""Reading the Compose files as Compose would: YAML (anchors and ``<<`` merges) and
``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` interpolation from an env file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SOAK_COMPOSE = REPO / "infra" / "docker-compose.soak.yml"
_REF = re.compile(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}")


class MissingVariable(LookupError):
    """A ``${VAR:?message}`` whose variable is unset or empty."""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def references(path: Path) -> set[str]:
    """Every variable a Compose file interpolates."""
    return {m[1] for m in _REF.finditer(path.read_text())}


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2], match[3] or ""
        current = variables.get(name, "")
        if op == ":?" and not current:
            raise MissingVariable(f"{name}: {arg}")
        if op == ":-" and not current:
            return arg
        return current

    return _REF.sub(one, value)


def service_env(data: dict[str, Any], service: str, variables: Mapping[str, str]) -> dict[str, str]:
    """The concrete environment of one service."""
    raw = data["services"][service]["environment"]
    return {k: interpolate(str(v), variables) for k, v in raw.items()}
