"""The sync client against a real node process: facts, pages, retraction, conflicts, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stigmem_node.client import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    FactValue,
    NotFound,
    StigmemClient,
    Unprocessable,
    new_fact,
)
from tests.process import NodeProcess

pytestmark = pytest.mark.process  # starts a real stigmem-node process


def test_assert_get_by_id_and_cid(memory: StigmemClient, unique: str) -> None:
    fact = memory.assert_fact(unique, "pref:color", "blue", "agent:bot", scope="company")
    assert (fact.entity, fact.relation, fact.value.type, fact.value.v, fact.scope) == (
        unique, "pref:color", "string", "blue", "company",
    )  # fmt: skip
    assert fact.cid is not None
    assert fact.cid.startswith("sha256:")
    assert memory.get_fact(fact.id).id == fact.id
    assert memory.get_fact(fact.cid).id == fact.id
    # Identical content is idempotent: the same fact comes back.
    again = memory.assert_fact(unique, "pref:color", "blue", "agent:bot", scope="company")
    assert again.id == fact.id


def test_value_types_round_trip(memory: StigmemClient, unique: str) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    cases = [
        ("n:int", 42, None, "number", 42),
        ("n:float", 42.5, None, "number", 42.5),
        ("n:bool", True, None, "boolean", True),
        ("n:null", None, None, "null", None),
        ("n:text", "long words", "text", "text", "long words"),
        ("n:ref", "stigmem://x/user/bob", "ref", "ref", "stigmem://x/user/bob"),
    ]
    for relation, value, forced, wire_type, back in cases:
        fact = memory.assert_fact(unique, relation, value, "agent:bot", value_type=forced)
        assert (fact.value.type, fact.value.v) == (wire_type, back), relation
    dated = memory.assert_fact(unique, "n:date", when, "agent:bot")
    assert dated.value.type == "datetime"
    assert datetime.fromisoformat(dated.value.v) == when


def test_query_page_and_iterator_follow_cursor(memory: StigmemClient, unique: str) -> None:
    ids = {
        memory.assert_fact(unique, f"item:n{i}", i, "agent:bot", scope="team").id for i in range(7)
    }
    page = memory.query_facts(entity=unique, limit=3)
    assert len(page.facts) == 3
    assert page.total == 7
    assert page.cursor is not None
    seen = [fact.id for fact in memory.iter_facts(entity=unique, limit=3)]
    assert len(seen) == 7
    assert set(seen) == ids


def test_retract_hides_the_fact(memory: StigmemClient, unique: str) -> None:
    fact = memory.assert_fact(unique, "pref:food", "pizza", "agent:bot", scope="company")
    retraction = memory.retract(fact.id)
    assert retraction.confidence == 0.0
    assert (retraction.entity, retraction.relation, retraction.value.v) == (
        unique, "pref:food", "pizza",
    )  # fmt: skip
    assert retraction.scope == "company"
    assert retraction.id != fact.id
    live = memory.query_facts(entity=unique, relation="pref:food")
    assert fact.id not in [f.id for f in live.facts]


def test_batch_reports_each_item(memory: StigmemClient, unique: str) -> None:
    good = new_fact(unique, "batch:a", "x", "agent:bot", scope="team")
    bad = new_fact(unique, "batch:b", "x", "agent:bot", scope="team")
    bad["confidence"] = 7
    result = memory.assert_batch([good, bad])
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.results[0].fact is not None
    assert result.results[0].fact.relation == "batch:a"
    assert result.results[1].status == 422
    assert [f.relation for f in memory.iter_facts(entity=unique)] == ["batch:a"]


def test_conflicts_list_and_resolve(memory: StigmemClient, unique: str) -> None:
    blue = memory.assert_fact(unique, "pref:color", "blue", "agent:a", scope="team")
    red = memory.assert_fact(unique, "pref:color", "red", "agent:b", scope="team")
    assert red.contradicted is True
    mine = [
        c
        for c in memory.list_conflicts("unresolved", limit=500).conflicts
        if c.fact_a is not None and c.fact_a.entity == unique
    ]
    assert len(mine) == 1
    assert {mine[0].fact_a.id, mine[0].fact_b.id} == {blue.id, red.id}  # type: ignore[union-attr]
    resolution = memory.resolve_conflict(mine[0].conflict_id, winning_fact_id=blue.id)
    assert resolution.conflict_status == "resolved"
    with pytest.raises(Conflict) as again:
        memory.resolve_conflict(mine[0].conflict_id, winning_fact_id=blue.id)
    assert (again.value.status, again.value.detail) == (409, "conflict already resolved")


def test_resolve_with_new_value(memory: StigmemClient, unique: str) -> None:
    memory.assert_fact(unique, "pref:size", "s", "agent:a", scope="team")
    memory.assert_fact(unique, "pref:size", "m", "agent:b", scope="team")
    conflict = next(
        c
        for c in memory.list_conflicts("unresolved", limit=500).conflicts
        if c.fact_a is not None and c.fact_a.entity == unique
    )
    resolved = memory.resolve_conflict(conflict.conflict_id, new_value=FactValue.of("l"))
    assert memory.get_fact(resolved.resolution_fact_id).value.v == "l"


def test_errors_carry_status_and_detail(memory: StigmemClient, unique: str) -> None:
    with pytest.raises(NotFound) as missing:
        memory.get_fact("00000000-0000-4000-8000-000000000000")
    assert (missing.value.status, missing.value.detail) == (404, "fact not found")
    assert str(missing.value) == "HTTP 404: fact not found"

    with pytest.raises(BadRequest) as bad_cid:
        memory.get_fact("sha256:nothex")
    assert bad_cid.value.code == "cid_malformed"

    with pytest.raises(BadRequest) as bad_scope:
        memory.query_facts(entity=unique, scope="galaxy")
    assert bad_scope.value.detail == ("scope must be one of {'local', 'team', 'company', 'public'}")


def test_422_names_the_field_and_writes_nothing(memory: StigmemClient, unique: str) -> None:
    with pytest.raises(Unprocessable) as err:
        memory.assert_fact(unique, "pref:x", "v", "agent:bot", confidence=1.5)
    assert err.value.status == 422
    assert isinstance(err.value.detail, list)
    assert err.value.detail[0]["loc"] == ["body", "confidence"]
    assert str(err.value).startswith("HTTP 422: confidence: ")
    assert memory.query_facts(entity=unique).facts == []


def test_unsupported_python_value_is_refused_before_sending(
    memory: StigmemClient, unique: str
) -> None:
    with pytest.raises(TypeError, match="cannot infer a fact value type for dict"):
        memory.assert_fact(unique, "pref:x", {"a": 1}, "agent:bot")
    assert memory.query_facts(entity=unique).facts == []


def test_bad_key_is_authentication_failed(node: NodeProcess, unique: str) -> None:
    stranger = StigmemClient(node.base_url, "not-a-valid-key-0123456789abcdef")
    with stranger, pytest.raises(AuthenticationFailed) as err:
        stranger.assert_fact(unique, "pref:x", "v", "agent:bot")
    assert err.value.status == 401
    assert err.value.detail == "Invalid or expired API key"
    with StigmemClient(node.base_url) as anonymous, pytest.raises(AuthenticationFailed) as none:
        anonymous.query_facts(entity=unique)
    assert none.value.detail == "Authorization header required"
    with StigmemClient(node.base_url, node.admin_key) as admin:
        assert admin.query_facts(entity=unique).facts == []


def test_me_and_health(memory: StigmemClient) -> None:
    assert memory.health()["status"] == "ok"
    me = memory.me()
    assert "admin" in me.permissions
