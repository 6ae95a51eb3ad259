"""CIDs must agree with upstream nodes byte for byte (wire reference §2.5)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stigmem_node.facts.cid import CID_RE, compute_cid, is_cid
from stigmem_node.facts.uri import normalise_uri
from stigmem_node.facts.values import encode_v

# The wire reference's verified example (observed on a live upstream node).
UPSTREAM_EXAMPLE = "sha256:bf91fe3f9636f488ed2f2cb8acd64a2fddb7a60819f26e6e661f999ec450e0e6"


def upstream_formula(**fields: Any) -> str:
    """The formula exactly as the wire reference states it, written independently."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def cid_of(value_type: str, v: Any, confidence: float = 1.0) -> str:
    return compute_cid(
        entity="user:alice",
        relation="pref:x",
        value_type=value_type,
        value_v=encode_v(value_type, v),
        source="agent:bot",
        confidence=confidence,
        scope="company",
    )


def test_upstream_example_is_byte_identical() -> None:
    cid = compute_cid(
        entity=normalise_uri("  User:Alice  Smith "),
        relation="pref:color",
        value_type="string",
        value_v="blue",
        source=normalise_uri("agent:bot"),
        confidence=1.0,
        scope="local",
    )
    assert cid == UPSTREAM_EXAMPLE


def test_integer_confidence_hashes_as_float() -> None:
    as_int = compute_cid(
        entity="user:alice-smith", relation="pref:color", value_type="string", value_v="blue",
        source="agent:bot", confidence=1, scope="local",
    )  # fmt: skip
    assert as_int == UPSTREAM_EXAMPLE


@pytest.mark.parametrize(
    ("value_type", "v", "value_v"),
    [
        ("number", 3, "3"),
        ("number", 3.0, "3.0"),
        ("number", -0.5, "-0.5"),
        ("number", 1e16, "1e+16"),
        ("boolean", True, "true"),
        ("boolean", False, "false"),
        ("null", None, "null"),
        ("string", "café ☕ 東京", "café ☕ 東京"),
        ("ref", "stigmem://example.com/user/bob", "stigmem://example.com/user/bob"),
    ],
)
def test_value_encoding_in_cid(value_type: str, v: Any, value_v: str) -> None:
    assert encode_v(value_type, v) == value_v
    expected = upstream_formula(
        confidence=1.0, entity="user:alice", relation="pref:x", scope="company",
        source="agent:bot", value_type=value_type, value_v=value_v,
    )  # fmt: skip
    assert cid_of(value_type, v) == expected


def test_int_and_float_values_have_different_cids() -> None:
    assert cid_of("number", 3) != cid_of("number", 3.0)


def test_non_ascii_is_hashed_as_utf8_not_escaped() -> None:
    text = json.dumps(
        {"confidence": 1.0, "entity": "user:alice", "relation": "pref:x", "scope": "company",
         "source": "agent:bot", "value_type": "string", "value_v": "é"},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )  # fmt: skip
    escaped = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert cid_of("string", "é") != escaped  # ensure_ascii=False is what upstream hashes


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        # Pinned known answers: other implementations can check theirs against these.
        (0.5, "sha256:e4c0a29a9ebfe0399f0f31599b30fb73755166ff682a9b8463634b80a8d0db4a"),
    ],
)
def test_pinned_confidence_vector(confidence: float, expected: str) -> None:
    computed = cid_of("string", "blue", confidence)
    assert computed == expected
    assert computed == upstream_formula(
        confidence=confidence, entity="user:alice", relation="pref:x", scope="company",
        source="agent:bot", value_type="string", value_v="blue",
    )  # fmt: skip
    assert CID_RE.match(computed)


@given(
    st.text(min_size=1, max_size=30),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.sampled_from(["local", "team", "company", "public"]),
)
def test_cid_matches_upstream_formula(value: str, confidence: float, scope: str) -> None:
    cid = compute_cid(
        entity="user:x", relation="r:y", value_type="text", value_v=value,
        source="agent:z", confidence=confidence, scope=scope,
    )  # fmt: skip
    assert cid == upstream_formula(
        confidence=confidence, entity="user:x", relation="r:y", scope=scope,
        source="agent:z", value_type="text", value_v=value,
    )  # fmt: skip
    assert CID_RE.match(cid)


def test_is_cid_and_pattern() -> None:
    assert is_cid(UPSTREAM_EXAMPLE)
    assert not is_cid("6f018209-4b7d-4779-ad7a-8e2e82152000")
    assert not CID_RE.match("sha256:" + "A" * 64)  # uppercase hex is not a CID
    assert not CID_RE.match("sha256:" + "a" * 63)


@given(
    st.lists(st.text(max_size=40), min_size=6, max_size=6),
    st.floats(min_value=0, max_value=1, allow_nan=False) | st.integers(0, 1),
)
def test_every_field_is_escaped_as_the_formula_does(texts: list[str], confidence: float) -> None:
    entity, relation, scope, source, value_type, value_v = texts
    fields = {
        "entity": entity, "relation": relation, "scope": scope, "source": source,
        "value_type": value_type, "value_v": value_v,
    }  # fmt: skip
    try:
        expected = upstream_formula(confidence=float(confidence), **fields)
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8, refused by both
        with pytest.raises(UnicodeEncodeError):
            compute_cid(confidence=confidence, **fields)
        return
    assert compute_cid(confidence=confidence, **fields) == expected
