"""The conformance vectors: loading them in order, and every ``expected_*`` check.

Follows ``conformance-vectors/README.md``: directories, then files by name, then vectors in
file order; body checks apply when the status is < 400, ``expected_nested`` always; values
compare as JSON (``true`` is not ``1``, ``null`` only equals ``null``, a missing key is not
``null``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS_ENV = "CONFORMANCE_VECTORS_DIR"
DEFAULT_VECTORS_DIR = REPO_ROOT.parent / "shared" / "protocol" / "conformance-vectors"
EXPECTED_VECTOR_COUNT = 91  # the README's count: a partial copy must not pass as complete

VECTOR_KEYS = frozenset({"id", "description", "method", "path", "body"})
CONTROL_KEYS = frozenset({"requires_setup", "requires_auth"})
STATUS_KEYS = frozenset({"expected_status", "expected_status_in"})
FILE_KEYS = frozenset(
    {"spec_section", "title", "description", "note", "vectors", "seed_fact", "requires_plugin"}
)

MISSING = object()


def vectors_dir() -> Path:
    return Path(os.environ.get(VECTORS_ENV) or DEFAULT_VECTORS_DIR)


@dataclass(frozen=True)
class Vector:
    """One vector, with its file's ``seed_fact``/``requires_plugin`` and its global order."""

    file: str  # e.g. "v1.0/01_fact_assert.json"
    index: int
    data: dict[str, Any]
    seed_fact: dict[str, Any] | None
    requires_plugin: str | None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def key(self) -> str:
        return f"{self.file}::{self.id}"

    @property
    def method(self) -> str:
        return str(self.data["method"])

    @property
    def path(self) -> str:
        return str(self.data["path"])

    @property
    def body(self) -> Any:
        return self.data.get("body")

    @property
    def requires_setup(self) -> str | None:
        value = self.data.get("requires_setup")
        return None if value is None else str(value)

    @property
    def requires_auth(self) -> bool:
        return self.data.get("requires_auth") is True

    @property
    def expected_statuses(self) -> list[int]:
        if "expected_status" in self.data:
            return [int(self.data["expected_status"])]
        return [int(s) for s in self.data["expected_status_in"]]

    @property
    def is_probe(self) -> bool:
        """A ``requires_auth`` vector expecting only errors: sent without credentials."""
        return self.requires_auth and all(s >= 400 for s in self.expected_statuses)


def load_vectors(root: Path | None = None) -> list[Vector]:
    """Every vector in run order. Raises ValueError on a malformed or unknown field."""
    root = root or vectors_dir()
    files = sorted(p for p in root.glob("*/*.json"))
    files.sort(key=lambda p: (p.parent.name, p.name))
    vectors: list[Vector] = []
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rel = f"{path.parent.name}/{path.name}"
        unknown = set(doc) - FILE_KEYS
        if unknown:
            raise ValueError(f"{rel}: unknown file-level fields {sorted(unknown)}")
        for data in doc["vectors"]:
            _validate(rel, data)
            vectors.append(
                Vector(rel, len(vectors), data, doc.get("seed_fact"), doc.get("requires_plugin"))
            )
    ids = [v.id for v in vectors]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate vector ids: {duplicates}")
    return vectors


def _validate(rel: str, data: dict[str, Any]) -> None:
    known = VECTOR_KEYS | CONTROL_KEYS | STATUS_KEYS | frozenset(CHECKS)
    unknown = set(data) - known
    if unknown:
        # A field this runner does not understand would be a check silently not made.
        raise ValueError(f"{rel}::{data.get('id')}: unknown fields {sorted(unknown)}")
    if len(STATUS_KEYS & set(data)) != 1:
        raise ValueError(f"{rel}::{data.get('id')}: needs exactly one expected status field")


# -- JSON comparison ------------------------------------------------------------------------


def json_equal(actual: Any, expected: Any) -> bool:
    """Equality of JSON values: booleans, null, numbers and strings never mix."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and actual == expected
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(json_equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(json_equal(actual[k], v) for k, v in expected.items())
        )
    raise TypeError(f"not a JSON value: {expected!r}")


def json_contains(actual: Any, expected: Any) -> bool:
    """Recursive subset: dicts by key, a list item must match some element, ``[]`` = empty."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and json_contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if not expected:
            return not actual
        return all(any(json_contains(a, e) for a in actual) for e in expected)
    return json_equal(actual, expected)


def dig(body: Any, dotted: str) -> Any:
    """The value at ``a.b.c`` (list indices allowed), or the ``MISSING`` sentinel."""
    node = body
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def _show(value: Any) -> str:
    return "<missing>" if value is MISSING else json.dumps(value, sort_keys=True)[:400]


# -- the checks: each returns a list of failure messages ------------------------------------

Check = Callable[[Any, Any], list[str]]


def _has_keys(body: Any, keys: list[str]) -> list[str]:
    if not isinstance(body, dict):
        return [f"expected an object with keys {keys}, got {_show(body)}"]
    missing = [k for k in keys if k not in body]
    return [f"missing keys {missing} (has {sorted(body)})"] if missing else []


def _contains(body: Any, expected: Any) -> list[str]:
    if json_contains(body, expected):
        return []
    return [f"body does not contain {_show(expected)}; got {_show(body)}"]


def _nested(body: Any, paths: dict[str, Any]) -> list[str]:
    return [
        f"{path}: expected {_show(want)}, got {_show(dig(body, path))}"
        for path, want in paths.items()
        if (got := dig(body, path)) is MISSING or not json_equal(got, want)
    ]


def _list_contains(body: Any, spec: dict[str, Any]) -> list[str]:
    errors = []
    for field, want in spec.items():
        got = dig(body, field)
        if not isinstance(got, list) or not any(json_contains(item, want) for item in got):
            errors.append(f"{field}: expected a list containing {_show(want)}, got {_show(got)}")
    return errors


def _value_in(body: Any, spec: dict[str, list[Any]]) -> list[str]:
    errors = []
    for field, allowed in spec.items():
        got = dig(body, field)
        if got is MISSING or not any(json_equal(got, a) for a in allowed):
            errors.append(f"{field}: expected one of {_show(allowed)}, got {_show(got)}")
    return errors


def _is_list(body: Any, want: bool) -> list[str]:
    if isinstance(body, list) == want:
        return []
    return [f"expected {'a' if want else 'no'} JSON list, got {_show(body)}"]


def _members_role(body: Any, role: str) -> list[str]:
    members = dig(body, "members")
    if isinstance(members, list) and any(
        isinstance(m, dict) and json_equal(m.get("role", MISSING), role) for m in members
    ):
        return []
    return [f"members: expected one with role {role!r}, got {_show(members)}"]


def _starts_with(body: Any, spec: dict[str, str]) -> list[str]:
    errors = []
    for field, prefix in spec.items():
        got = dig(body, field)
        if not isinstance(got, str) or not got.startswith(prefix):
            errors.append(f"{field}: expected a string starting {prefix!r}, got {_show(got)}")
    return errors


def _length(body: Any, spec: dict[str, int]) -> list[str]:
    errors = []
    for field, length in spec.items():
        got = dig(body, field)
        if not isinstance(got, str | list) or len(got) != length:
            errors.append(f"{field}: expected length {length}, got {_show(got)}")
    return errors


def _first_fact(body: Any) -> Any:
    facts = dig(body, "facts")
    return facts[0] if isinstance(facts, list) and facts else MISSING


def _first_fact_keys(body: Any, keys: list[str]) -> list[str]:
    first = _first_fact(body)
    if first is MISSING:
        return [f"expected at least one fact, got {_show(dig(body, 'facts'))}"]
    return [f"first fact: {e}" for e in _has_keys(first, keys)]


def _first_fact_breakdown(body: Any, keys: list[str]) -> list[str]:
    first = _first_fact(body)
    if first is MISSING:
        return [f"expected at least one fact, got {_show(dig(body, 'facts'))}"]
    return [
        f"first fact score_breakdown: {e}" for e in _has_keys(dig(first, "score_breakdown"), keys)
    ]


CHECKS: dict[str, Check] = {
    "expected_body_has_keys": _has_keys,
    "expected_body_contains": _contains,
    "expected_nested": _nested,
    "expected_body_list_contains": _list_contains,
    "expected_body_value_in": _value_in,
    "expected_response_is_list": _is_list,
    "expected_members_contain_role": _members_role,
    "expected_field_starts_with": _starts_with,
    "expected_field_length": _length,
    "expected_first_fact_has_keys": _first_fact_keys,
    "expected_first_fact_score_breakdown_keys": _first_fact_breakdown,
}
ALWAYS_CHECKED = frozenset({"expected_nested"})  # README: holds on error responses too


def check_response(spec: dict[str, Any], status: int, body: Any) -> list[str]:
    """Every failed expectation of ``spec`` (a vector or an override) for this response."""
    errors: list[str] = []
    if "expected_status" in spec and status != spec["expected_status"]:
        errors.append(f"status: expected {spec['expected_status']}, got {status}")
    if "expected_status_in" in spec and status not in spec["expected_status_in"]:
        errors.append(f"status: expected one of {spec['expected_status_in']}, got {status}")
    for name, check in CHECKS.items():
        if name in spec and (status < 400 or name in ALWAYS_CHECKED):
            errors.extend(f"{name}: {e}" for e in check(body, spec[name]))
    return errors
