"""The conformance checks themselves: each one can fail, and compares as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.vectors import (
    MISSING,
    check_response,
    dig,
    json_contains,
    json_equal,
    load_vectors,
)


@pytest.mark.parametrize(
    ("actual", "expected", "equal"),
    [
        (True, True, True),
        (1, True, False),
        (True, 1, False),
        (0, False, False),
        (None, None, True),
        (None, 0, False),
        ("", None, False),
        (42.5, 42.5, True),
        (42, 42, True),
        ("42", 42, False),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        ({"a": 1, "b": 2}, {"a": 1}, False),
        ([1, 2], [2, 1], False),
    ],
)
def test_json_equal(actual: Any, expected: Any, equal: bool) -> None:
    assert json_equal(actual, expected) is equal


@pytest.mark.parametrize(
    ("actual", "expected", "contained"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": True}, False),
        ({"attested": None}, {"attested": None}, True),
        ({}, {"attested": None}, False),  # a missing key is not null
        ({"facts": []}, {"facts": []}, True),
        ({"facts": [{"id": 1}]}, {"facts": []}, False),  # [] means "must be empty"
        ({"facts": [{"id": 1, "x": 2}, {"id": 2}]}, {"facts": [{"id": 2}]}, True),
        ({"facts": [{"id": 1}]}, {"facts": [{"id": 2}]}, False),
        ({"facts": {"id": 1}}, {"facts": [{"id": 1}]}, False),
        ({"v": {"type": "null", "v": None}}, {"v": {"type": "null", "v": None}}, True),
        (["garden:", "rel:"], ["garden:"], True),
    ],
)
def test_json_contains(actual: Any, expected: Any, contained: bool) -> None:
    assert json_contains(actual, expected) is contained


def test_dig_tells_missing_from_null() -> None:
    body = {"value": {"v": None}, "detail": {"code": "x"}, "items": [{"a": 1}]}
    assert dig(body, "value.v") is None
    assert dig(body, "value.w") is MISSING
    assert dig(body, "detail.code") == "x"
    assert dig(body, "items.0.a") == 1


# (spec, status, body, failures expected)
CASES: list[tuple[dict[str, Any], int, Any, bool]] = [
    ({"expected_status": 201}, 201, None, False),
    ({"expected_status": 201}, 200, None, True),
    ({"expected_status_in": [401, 403]}, 403, None, False),
    ({"expected_status_in": [401, 403]}, 404, None, True),
    ({"expected_status": 200, "expected_body_has_keys": ["a"]}, 200, {"a": 1}, False),
    ({"expected_status": 200, "expected_body_has_keys": ["a"]}, 200, {"b": 1}, True),
    ({"expected_status": 200, "expected_body_has_keys": ["a"]}, 200, [1], True),
    (
        {"expected_status": 200, "expected_nested": {"value.v": True}},
        200,
        {"value": {"v": 1}},
        True,
    ),
    ({"expected_status": 200, "expected_nested": {"value.v": None}}, 200, {"value": {}}, True),
    ({"expected_status": 400, "expected_nested": {"detail.code": "c"}}, 400, {"detail": "c"}, True),
    (
        {"expected_status": 400, "expected_nested": {"detail.code": "c"}},
        400,
        {"detail": {"code": "c"}},
        False,
    ),
    (
        {"expected_status": 200, "expected_body_list_contains": {"ns": "g:"}},
        200,
        {"ns": ["g:"]},
        False,
    ),
    (
        {"expected_status": 200, "expected_body_list_contains": {"ns": "g:"}},
        200,
        {"ns": ["h:"]},
        True,
    ),
    (
        {"expected_status": 200, "expected_body_value_in": {"m": ["on", "off"]}},
        200,
        {"m": "on"},
        False,
    ),
    (
        {"expected_status": 200, "expected_body_value_in": {"m": ["on", "off"]}},
        200,
        {"m": "x"},
        True,
    ),
    ({"expected_status": 200, "expected_body_value_in": {"m": ["on"]}}, 200, {}, True),
    ({"expected_status": 200, "expected_response_is_list": True}, 200, [], False),
    ({"expected_status": 200, "expected_response_is_list": True}, 200, {"items": []}, True),
    (
        {"expected_status": 201, "expected_members_contain_role": "admin"},
        201,
        {"members": [{"role": "admin"}]},
        False,
    ),
    (
        {"expected_status": 201, "expected_members_contain_role": "admin"},
        201,
        {"members": [{"role": "reader"}]},
        True,
    ),
    (
        {"expected_status": 201, "expected_field_starts_with": {"cid": "sha256:"}},
        201,
        {"cid": "sha256:ab"},
        False,
    ),
    (
        {"expected_status": 201, "expected_field_starts_with": {"cid": "sha256:"}},
        201,
        {"cid": None},
        True,
    ),
    ({"expected_status": 200, "expected_field_length": {"id": 3}}, 200, {"id": "abc"}, False),
    ({"expected_status": 200, "expected_field_length": {"id": 3}}, 200, {"id": "abcd"}, True),
    (
        {"expected_status": 200, "expected_first_fact_has_keys": ["score"]},
        200,
        {"facts": [{"score": 1}]},
        False,
    ),
    ({"expected_status": 200, "expected_first_fact_has_keys": ["score"]}, 200, {"facts": []}, True),
    (
        {"expected_status": 200, "expected_first_fact_score_breakdown_keys": ["lexical"]},
        200,
        {"facts": [{"score_breakdown": {"lexical": 0.5}}]},
        False,
    ),
    (
        {"expected_status": 200, "expected_first_fact_score_breakdown_keys": ["lexical"]},
        200,
        {"facts": [{"score_breakdown": {}}]},
        True,
    ),
]


@pytest.mark.parametrize(("spec", "status", "body", "fails"), CASES)
def test_each_check_passes_and_fails(
    spec: dict[str, Any], status: int, body: Any, fails: bool
) -> None:
    assert bool(check_response(spec, status, body)) is fails


def test_body_checks_wait_for_a_success_status() -> None:
    spec = {"expected_status_in": [200, 404], "expected_body_has_keys": ["facts"]}
    assert check_response(spec, 404, {"detail": "Not Found"}) == []
    assert check_response(spec, 200, {"detail": "x"}) != []


def test_loader_refuses_a_check_it_does_not_know(tmp_path: Path) -> None:
    folder = tmp_path / "v9.0"
    folder.mkdir()
    vector = {
        "id": "x",
        "description": "",
        "method": "GET",
        "path": "/healthz",
        "body": None,
        "expected_status": 200,
        "expected_body_is_magic": True,
    }
    (folder / "01_x.json").write_text(json.dumps({"title": "t", "vectors": [vector]}))
    with pytest.raises(ValueError, match="expected_body_is_magic"):
        load_vectors(tmp_path)


def test_loader_orders_directories_then_files_then_vectors(tmp_path: Path) -> None:
    def write(rel: str, ids: list[str]) -> None:
        path = tmp_path / rel
        path.parent.mkdir(exist_ok=True)
        vectors = [
            {"id": i, "method": "GET", "path": "/", "body": None, "expected_status": 200}
            for i in ids
        ]
        path.write_text(json.dumps({"vectors": vectors}))

    write("v2.0/01_a.json", ["c"])
    write("v1.0/10_b.json", ["b2", "b1"])
    write("v1.0/02_a.json", ["a"])
    assert [v.key for v in load_vectors(tmp_path)] == [
        "v1.0/02_a.json::a",
        "v1.0/10_b.json::b2",
        "v1.0/10_b.json::b1",
        "v2.0/01_a.json::c",
    ]
