"""The operator guide against the code and the operator contract.

Every ``Settings`` field is in the configuration reference of ``docs/operations.md`` with its
environment name and its real default, and the reference lists nothing else; every variable
the seed's deployment page names is a setting with the default the page states.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stigmem_node.config import Settings

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "operations.md"
SEED = REPO.parent / "shared" / "seed" / "deployment-and-installation.txt"
ROW = re.compile(r"^\| `(STIGMEM_[A-Z0-9_]+)` \| `([^`]*)`", re.M)


def default_of(name: str) -> Any:
    field = Settings.model_fields[name]
    return field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]


def render(value: Any) -> str:
    """A default as the guide writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return '""' if value == "" else str(value)


def reference() -> dict[str, str]:
    text = GUIDE.read_text()
    section = text.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    rows = ROW.findall(section)
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a variable is documented twice"
    return dict(rows)


def test_every_setting_is_documented_with_its_default_and_nothing_else() -> None:
    documented = reference()
    expected = {
        f"STIGMEM_{name.upper()}": render(default_of(name)) for name in Settings.model_fields
    }
    assert sorted(set(expected) - set(documented)) == [], "undocumented settings"
    assert sorted(set(documented) - set(expected)) == [], "documented variables the node lacks"
    wrong = {k: (documented[k], v) for k, v in expected.items() if documented[k] != v}
    assert wrong == {}, "documented default (guide, code) differs"


def seed_table() -> dict[str, str]:
    """The seed page's variables and their stated defaults (the line after each name)."""
    lines = [line.strip() for line in SEED.read_text().splitlines()]
    out = {}
    for i, line in enumerate(lines):
        if re.fullmatch(r"STIGMEM_[A-Z0-9_]+", line) and i + 1 < len(lines):
            out[line] = lines[i + 1]
    return out


def seed_default(text: str) -> str:
    """``"" (auto)`` → ``""``, ``0 (disabled)`` → ``0``, ``0.0 (disabled)`` → ``0``."""
    text = re.sub(r"\s*\(.*\)$", "", text).strip()
    try:
        return render(float(text)) if "." in text else text
    except ValueError:
        return text


@pytest.mark.skipif(not SEED.exists(), reason="the seed page is not beside this checkout")
def test_the_seed_page_s_variables_exist_with_its_defaults() -> None:
    table = seed_table()
    assert len(table) >= 23  # core, federation, decay/attestation/OIDC/performance
    documented = reference()
    for variable, stated in table.items():
        name = variable.removeprefix("STIGMEM_").lower()
        assert name in Settings.model_fields, f"{variable} named by the seed is not a setting"
        assert render(default_of(name)) == seed_default(stated), variable
        assert variable in documented
    # Every variable the page mentions anywhere (the key snippet too) is a setting.
    mentioned = set(re.findall(r"STIGMEM_[A-Z0-9_]+", SEED.read_text()))
    assert {v.removeprefix("STIGMEM_").lower() for v in mentioned} <= set(Settings.model_fields)
