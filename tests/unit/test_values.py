"""FactValue checking, encoding and decoding (CONTRACT §2: v is validated against type)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stigmem_node.facts.values import ValueMismatch, check_value, decode_v, encode_v

GOOD = [
    ("string", "blue"),
    ("string", ""),
    ("text", "long\ntext"),
    ("number", 42),
    ("number", 42.5),
    ("number", -0.0),
    ("number", 0),
    ("boolean", True),
    ("boolean", False),
    ("datetime", "2026-12-03T15:37:50.906450+00:00"),
    ("datetime", "2026-12-03"),
    ("ref", "user:bob"),
    ("ref", "stigmem://example.com/user/bob"),
    ("null", None),
]
BAD = [
    ("string", 3),
    ("string", None),
    ("string", ["a"]),
    ("text", {"a": 1}),
    ("number", "42"),
    ("number", True),  # bool is not a number
    ("number", False),
    ("number", math.nan),
    ("number", math.inf),
    ("number", -math.inf),
    ("number", None),
    ("number", [1]),
    ("number", 2**64),  # beyond what JSON clients and the wire encoder can carry
    ("number", -(2**63) - 1),
    ("boolean", "true"),
    ("boolean", 1),
    ("boolean", None),
    ("datetime", "tomorrow"),
    ("datetime", 1700000000),
    ("datetime", "9999-12-31T23:59:59-01:00"),
    ("ref", ""),
    ("ref", "no scheme"),
    ("ref", "user:"),
    ("ref", 5),
    ("null", "x"),
    ("null", 0),
    ("null", False),
    ("mystery", "x"),
]


@pytest.mark.parametrize(("value_type", "v"), GOOD)
def test_good_values_pass(value_type: str, v: Any) -> None:
    check_value(value_type, v)


@pytest.mark.parametrize(("value_type", "v"), BAD)
def test_bad_values_raise(value_type: str, v: Any) -> None:
    with pytest.raises(ValueMismatch):
        check_value(value_type, v)


@pytest.mark.parametrize(
    ("value_type", "v", "stored"),
    [
        ("number", 42, "42"),
        ("number", 42.5, "42.5"),
        ("number", 3.0, "3.0"),
        ("boolean", True, "true"),
        ("boolean", False, "false"),
        ("null", None, "null"),
        ("string", "x y", "x y"),
    ],
)
def test_encoding_is_upstreams(value_type: str, v: Any, stored: str) -> None:
    assert encode_v(value_type, v) == stored
    decoded = decode_v(value_type, stored)
    assert decoded == v
    assert type(decoded) is type(v)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_ints_stay_ints(v: int) -> None:
    check_value("number", v)
    decoded = decode_v("number", encode_v("number", v))
    assert decoded == v
    assert type(decoded) is int


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_stay_floats(v: float) -> None:
    check_value("number", v)
    decoded = decode_v("number", encode_v("number", v))
    assert decoded == v
    assert type(decoded) is float
    assert math.copysign(1, decoded) == math.copysign(1, v)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_text_round_trips(v: str) -> None:
    check_value("text", v)
    assert decode_v("text", encode_v("text", v)) == v


@given(st.booleans())
def test_booleans_round_trip(v: bool) -> None:
    assert decode_v("boolean", encode_v("boolean", v)) is v
