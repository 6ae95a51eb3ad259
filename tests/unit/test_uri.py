"""Entity/source normalisation exactly as the wire reference §2.4."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stigmem_node.facts.uri import InvalidEntityURI, is_reserved, normalise_uri

_FORMAL = re.compile(r"^stigmem://([^/]+)/([^/]+)/(.+)$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  User:Alice  Smith ", "user:alice-smith"),
        ("stigmem://Example.com/User/Bob Jones", "stigmem://example.com/user/bob-jones"),
        ("STIGMEM://Host/Type/X Y", "stigmem://host/type/x-y"),
        ("Agent:Bot", "agent:bot"),
        ("user:alice", "user:alice"),
        ("a\tb\n\nc", "a-b-c"),
        ("stigmem://h/t/a   b\tc", "stigmem://h/t/a-b-c"),
        ("stigmem://h/t/a/b C", "stigmem://h/t/a/b-c"),  # the id may contain slashes
    ],
)
def test_wire_reference_examples(raw: str, expected: str) -> None:
    assert normalise_uri(raw) == expected


@pytest.mark.parametrize("raw", ["", " ", "\t\n "])
def test_empty_is_rejected_with_upstream_text(raw: str) -> None:
    with pytest.raises(InvalidEntityURI) as info:
        normalise_uri(raw)
    assert str(info.value) == "invalid_entity_uri: entity URI must not be empty"


@pytest.mark.parametrize("raw", ["stigmem://h/ /x", "stigmem:// /t/x", "stigmem://h/\t/x"])
def test_empty_formal_component_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidEntityURI) as info:
        normalise_uri(raw)
    assert str(info.value).startswith(
        "invalid_entity_uri: produced empty component in formal URI: "
    )


def test_reserved_names() -> None:
    assert is_reserved("stigmem:conflict:between")
    assert is_reserved("stigmem:ttl")
    assert not is_reserved("stigmem://example.com/user/bob")
    assert not is_reserved("user:stigmem")


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda s: s.strip() != "")
formal = st.builds(
    lambda a, t, i: f"stigmem://{a}/{t}/{i}",
    st.from_regex(r"[A-Za-z0-9.\-]{1,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
)


def _whitespace_only_in_id(text: str) -> bool:
    match = _FORMAL.match(text.strip())
    if match is None:
        return True
    return not any(ch.isspace() for ch in match[1] + match[2])


@given(st.one_of(names, formal))
def test_idempotent_lowercase_and_without_whitespace(raw: str) -> None:
    try:
        once = normalise_uri(raw)
    except InvalidEntityURI:
        return
    assert normalise_uri(once) == once
    assert once == once.lower()
    assert once.strip() == once
    if _whitespace_only_in_id(raw):
        # Upstream folds whitespace in informal names and formal ids only.
        assert not any(ch.isspace() for ch in once)


@given(names)
def test_informal_names_are_lowercased_whole(raw: str) -> None:
    assume(_FORMAL.match(raw.strip()) is None)
    assert normalise_uri(raw) == re.sub(r"\s+", "-", raw.strip().lower())
