"""What ingest accepts from a peer, fact by fact (pure checks, no I/O)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from stigmem_node.errors import BadRequest
from stigmem_node.facts.cid import compute_cid
from stigmem_node.federation.backoff import backoff_delay
from stigmem_node.federation.server import decode_cursor, encode_cursor, permitted_scopes
from stigmem_node.federation.validate import IngestPolicy, Rejected, check_fact, check_page

SENDER = "stigmem:node:sender"
LOCAL = "stigmem:node:local"
NOW_MS = 1_800_000_000_000
POLICY = IngestPolicy(
    sender=SENDER,
    local_node_id=LOCAL,
    permitted_scopes=frozenset({"company", "public"}),
    declared_scopes=("company", "public"),
    now_ms=NOW_MS,
    max_future_ms=300_000,
    max_past_ms=30 * 86_400_000,
    max_text_bytes=1000,
)


def wire(**overrides: Any) -> dict[str, Any]:
    """A valid upstream-style FactRecord (number served as float, CID over the int)."""
    fact: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "entity": "user:alice",
        "relation": "pref:count",
        "value": {"type": "number", "v": 42.0, "interpret_as": "content"},
        "source": "agent:bot",
        "timestamp": "2027-01-15T08:00:00.000000+00:00",
        "hlc": f"{NOW_MS - 1000}.3",
        "received_from": None,
        "valid_until": None,
        "confidence": 1.0,
        "scope": "public",
        "origin_node_id": None,
        "garden_id": None,
        "quarantine_status": None,
        "derived_from": [],
        "cid": compute_cid(
            entity="user:alice",
            relation="pref:count",
            value_type="number",
            value_v="42",
            source="agent:bot",
            confidence=1.0,
            scope="public",
        ),
    }
    fact.update(overrides)
    return fact


def reason(raw: Any, policy: IngestPolicy = POLICY) -> str:
    with pytest.raises(Rejected) as info:
        check_fact(raw, policy)
    return info.value.reason


def test_upstream_integral_float_matches_its_int_cid() -> None:
    incoming = check_fact(wire(), POLICY)
    fact = incoming.fact
    assert fact.value_v == "42"  # stored as upstream stored it, so the CID holds
    assert fact.received_from == SENDER
    assert fact.origin_node_id == SENDER
    assert fact.origin_allowed_scopes == ["company", "public"]
    assert not fact.re_federation_blocked  # public: may be relayed
    assert incoming.observe_hlc == f"{NOW_MS - 1000}.3"  # unpadded remote HLC parsed
    assert incoming.timestamp == "2027-01-15T08:00:00.000000+00:00"


def test_company_facts_are_blocked_from_re_federation() -> None:
    cid = compute_cid(
        entity="user:alice",
        relation="pref:count",
        value_type="number",
        value_v="42",
        source="agent:bot",
        confidence=1.0,
        scope="company",
    )
    assert check_fact(wire(scope="company", cid=cid), POLICY).fact.re_federation_blocked


def test_missing_cid_is_computed() -> None:
    fact = check_fact(wire(cid=None, value={"type": "string", "v": "x"}), POLICY).fact
    assert fact.cid == compute_cid(
        entity="user:alice",
        relation="pref:count",
        value_type="string",
        value_v="x",
        source="agent:bot",
        confidence=1.0,
        scope="public",
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"scope": "local"}, "scope_not_permitted"),
        ({"scope": "team"}, "scope_not_permitted"),
        ({"scope": "secret"}, "malformed_fact"),
        ({"cid": "sha256:" + "0" * 64}, "cid_mismatch"),
        ({"cid": "not-a-cid"}, "malformed_fact"),
        ({"value": {"type": "number", "v": "abc"}}, "invalid_value"),
        ({"value": {"type": "boolean", "v": "false"}}, "invalid_value"),
        ({"value": {"type": "text", "v": "x" * 1001}}, "value_too_large"),
        (
            {"value": {"type": "string", "v": "x", "interpret_as": "instruction"}},
            "instruction_not_accepted",
        ),
        ({"value": "blue"}, "malformed_fact"),
        ({"hlc": f"{NOW_MS + 301_000}.0"}, "hlc_skew"),
        ({"hlc": "yesterday"}, "malformed_fact"),
        ({"timestamp": "2099-01-01T00:00:00+00:00"}, "timestamp_in_future"),
        ({"timestamp": "tomorrow"}, "malformed_fact"),
        ({"valid_until": "never"}, "malformed_fact"),
        ({"confidence": 1.5}, "malformed_fact"),
        ({"confidence": True}, "malformed_fact"),
        ({"id": "12"}, "malformed_fact"),
        ({"entity": ""}, "malformed_fact"),
        ({"entity": "a\x00b"}, "malformed_fact"),
        ({"relation": "stigmem:conflict:status"}, "reserved_name"),
        ({"entity": "stigmem:conflict:1"}, "reserved_name"),
        ({"relation": "garden:member"}, "reserved_name"),
        ({"garden_id": "g1"}, "garden_fact"),
        ({"quarantine_status": "pending"}, "quarantined_fact"),
        ({"derived_from": "x"}, "malformed_fact"),
        ({"source": LOCAL}, "source_not_owned"),
        ({"source": "system:stigmem"}, "source_not_owned"),
        ({"source": "stigmem:node:third-party"}, "source_not_owned"),
        ({"source": "stigmem:internal"}, "source_not_owned"),
        ({"scope": "company", "origin_node_id": "stigmem:node:third-party"}, "relayed_non_public"),
        ({"scope": "company", "received_from": "stigmem:node:third-party"}, "relayed_non_public"),
    ],
)
def test_bad_facts_are_rejected_with_a_stable_reason(
    overrides: dict[str, Any], expected: str
) -> None:
    assert reason(wire(**overrides)) == expected


def test_non_objects_and_missing_fields_are_malformed() -> None:
    assert reason("fact") == "malformed_fact"
    raw = wire()
    del raw["entity"]
    assert reason(raw) == "malformed_fact"


def test_relayed_public_fact_keeps_its_origin_and_may_name_it_as_source() -> None:
    origin = "stigmem:node:origin"
    cid = compute_cid(
        entity="user:alice",
        relation="pref:count",
        value_type="number",
        value_v="42",
        source=origin,
        confidence=1.0,
        scope="public",
    )
    fact = check_fact(
        wire(origin_node_id=origin, received_from=origin, source=origin, cid=cid), POLICY
    ).fact
    assert fact.origin_node_id == origin
    assert fact.received_from == SENDER


def test_team_only_when_allowed() -> None:
    team = IngestPolicy(
        **{
            "sender": SENDER,
            "local_node_id": LOCAL,
            "permitted_scopes": frozenset({"team", "public"}),
            "declared_scopes": ("team",),
            "now_ms": NOW_MS,
            "max_future_ms": 300_000,
            "max_past_ms": 1,
            "max_text_bytes": 10,
        }
    )
    cid = compute_cid(
        entity="user:alice",
        relation="pref:count",
        value_type="number",
        value_v="42",
        source="agent:bot",
        confidence=1.0,
        scope="team",
    )
    incoming = check_fact(wire(scope="team", cid=cid), team)
    assert incoming.fact.re_federation_blocked
    assert incoming.observe_hlc is None  # older than the past bound: kept, not merged


def test_a_page_keeps_going_past_bad_facts() -> None:
    good, bad = wire(), wire(scope="local")
    incoming, rejections = check_page([bad, "junk", good], POLICY)
    assert [i.fact.id for i in incoming] == [good["id"]]
    assert [(r.fact_id, r.reason, r.event) for r in rejections] == [
        (bad["id"], "scope_not_permitted", "scope_violation"),
        (None, "malformed_fact", "rejected_fact"),
    ]


def test_permitted_scopes_intersect_both_declarations() -> None:
    both = ["local", "team", "company", "public"]
    assert permitted_scopes(both, both, allow_team=False) == {"company", "public"}
    assert permitted_scopes(both, both, allow_team=True) == {"team", "company", "public"}
    assert permitted_scopes(["public"], both, allow_team=True) == {"public"}
    assert permitted_scopes(["local"], ["local"], allow_team=True) == frozenset()


def test_cursor_is_opaque_and_checked() -> None:
    assert decode_cursor(encode_cursor(1234)) == 1234
    assert decode_cursor(None) == 0
    for bad in ("1796312336189.0", "s-1", "sabc", "s" + "9" * 19):
        with pytest.raises(BadRequest):
            decode_cursor(bad)


def test_backoff_grows_caps_jitters_and_honours_retry_after() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, base_s=1, max_s=60, retry_after=None, rng=rng) for n in range(1, 12)]
    assert all(0.5 <= d <= 1 for d in delays[:1])
    assert all(30 <= d <= 60 for d in delays[7:])  # capped, with jitter
    assert len({round(d, 6) for d in delays[7:]}) > 1
    assert backoff_delay(1, base_s=1, max_s=60, retry_after=120, rng=rng) == 120
