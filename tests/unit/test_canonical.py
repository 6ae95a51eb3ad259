"""The one canonical JSON form used for hashing and signing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stigmem_node.canonical import canonical_bytes

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=15,
)


def test_known_answer() -> None:
    obj = {"b": 1, "a": [1.0, "é", None, True], "c": {"z": 0.1, "y": 3}}
    assert canonical_bytes(obj) == '{"a":[1.0,"é",null,true],"b":1,"c":{"y":3,"z":0.1}}'.encode()


def test_floats_keep_python_repr() -> None:
    assert canonical_bytes({"x": 1.0}) == b'{"x":1.0}'  # not RFC 8785's 1
    assert canonical_bytes({"x": 1}) == b'{"x":1}'
    assert canonical_bytes({"x": 1e16}) == b'{"x":1e+16}'


def test_non_ascii_is_raw_utf8() -> None:
    assert canonical_bytes("東京") == '"東京"'.encode()
    assert b"\\u" not in canonical_bytes({"k": "café"})


@given(json_values)
def test_round_trip_and_formula(obj: Any) -> None:
    data = canonical_bytes(obj)
    assert json.loads(data) == obj
    assert (
        data == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


@given(st.dictionaries(st.text(max_size=8), st.integers(), max_size=8))
def test_key_order_does_not_matter(obj: dict[str, int]) -> None:
    reversed_obj = dict(reversed(list(obj.items())))
    assert canonical_bytes(reversed_obj) == canonical_bytes(obj)
