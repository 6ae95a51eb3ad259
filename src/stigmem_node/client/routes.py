"""Every route the client calls, as ``Call`` builders (wire reference §1.2, §1.3, §1.5-1.7).

Arguments left ``None`` are not sent, so the node's own defaults apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stigmem_node.client.models import (
    BatchResult,
    ConflictPage,
    Fact,
    FactPage,
    FactValue,
    Garden,
    GardenMember,
    Identity,
    Job,
    LintReport,
    Peer,
    PeerApproval,
    PeerRegistration,
    RecallResult,
    Resolution,
    ValueType,
)
from stigmem_node.client.transport import Call, segment


def new_fact(
    entity: str,
    relation: str,
    value: Any,
    source: str,
    *,
    value_type: ValueType | None = None,
    scope: str | None = None,
    confidence: float | None = None,
    valid_until: str | None = None,
    garden_id: str | None = None,
    interpret_as: str | None = None,
    derived_from: Sequence[Mapping[str, Any]] | None = None,
    write_mode: str | None = None,
    attestation: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The AssertRequest body of one fact (also an item of ``assert_batch``).

    ``value`` is a plain Python value (type inferred: str → string, int/float → number,
    bool → boolean, None → null, datetime → datetime) or a ``FactValue``; ``value_type``
    forces the type (``text``, ``ref``...).
    """
    fact_value = FactValue.of(value, value_type)
    if interpret_as is not None:
        fact_value = fact_value.model_copy(update={"interpret_as": interpret_as})
    body: dict[str, Any] = {
        "entity": entity,
        "relation": relation,
        "value": fact_value.wire(),
        "source": source,
    }
    optional = {
        "scope": scope,
        "confidence": confidence,
        "valid_until": valid_until,
        "garden_id": garden_id,
        "write_mode": write_mode,
        "attestation": dict(attestation) if attestation is not None else None,
        "derived_from": [dict(item) for item in derived_from] if derived_from else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/healthz", dict)


def me() -> Call[Identity]:
    return Call("GET", "/v1/me", Identity.model_validate)


def assert_fact(body: Mapping[str, Any]) -> Call[Fact]:
    return Call("POST", "/v1/facts", Fact.model_validate, json=dict(body))


def assert_batch(
    facts: Sequence[Mapping[str, Any]], atomic: bool, idempotency_key: str | None
) -> Call[BatchResult]:
    body: dict[str, Any] = {"facts": [dict(item) for item in facts], "atomic": atomic}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    return Call("POST", "/v1/facts/batch", BatchResult.model_validate, json=body)


def query_facts(filters: Mapping[str, Any]) -> Call[FactPage]:
    return Call("GET", "/v1/facts", FactPage.model_validate, params=dict(filters))


def get_fact(fact_id: str) -> Call[Fact]:
    return Call("GET", f"/v1/facts/{segment(fact_id)}", Fact.model_validate)


def retraction_of(fact: Fact, source: str | None, garden_uri: str | None) -> dict[str, Any]:
    """The body retracting ``fact``: its content again, with confidence 0.0."""
    return new_fact(
        fact.entity,
        fact.relation,
        fact.value,
        source or fact.source,
        scope=fact.scope,
        confidence=0.0,
        garden_id=garden_uri,
    )


def list_conflicts(status: str | None, cursor: str | None, limit: int | None) -> Call[ConflictPage]:
    params = {"status": status, "cursor": cursor, "limit": limit}
    return Call("GET", "/v1/conflicts", ConflictPage.model_validate, params=params)


def resolve_conflict(
    conflict_id: str,
    winning_fact_id: str | None,
    new_value: Any,
    resolution_note: str | None,
) -> Call[Resolution]:
    body: dict[str, Any] = {}
    if winning_fact_id is not None:
        body["winning_fact_id"] = winning_fact_id
    if new_value is not None:
        body["new_value"] = FactValue.of(new_value).wire()
    if resolution_note is not None:
        body["resolution_note"] = resolution_note
    path = f"/v1/conflicts/{segment(conflict_id)}/resolve"
    return Call("POST", path, Resolution.model_validate, json=body)


def recall(query: str, options: Mapping[str, Any]) -> Call[RecallResult]:
    body = {"query": query, **{k: v for k, v in options.items() if v is not None}}
    return Call("POST", "/v1/recall", RecallResult.model_validate, json=body)


def _report_or_job(data: Any) -> LintReport | Job:
    if isinstance(data, dict) and "job_id" in data and "findings" not in data:
        return Job.model_validate(data)
    return LintReport.model_validate(data)


def lint(scope: str, options: Mapping[str, Any]) -> Call[LintReport | Job]:
    body = {"scope": scope, **{k: v for k, v in options.items() if v is not None}}
    return Call("POST", "/v1/lint", _report_or_job, json=body)


def lint_job(job_id: str) -> Call[Job]:
    return Call("GET", f"/v1/lint/jobs/{segment(job_id)}", Job.model_validate)


def _none(_: Any) -> None:
    return None


def _gardens(data: Any) -> list[Garden]:
    items = data.get("gardens") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise TypeError("expected a list of gardens")
    return [Garden.model_validate(item) for item in items]


def _members(data: Any) -> list[GardenMember]:
    items = data.get("members") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise TypeError("expected a list of garden members")
    return [GardenMember.model_validate(item) for item in items]


def _peers(data: Any) -> list[Peer]:
    if not isinstance(data, dict) or not isinstance(data.get("peers"), list):
        raise TypeError('expected {"peers": [...]}')
    return [Peer.model_validate(item) for item in data["peers"]]


def create_garden(body: Mapping[str, Any]) -> Call[Garden]:
    return Call("POST", "/v1/gardens", Garden.model_validate, json=dict(body))


def list_gardens() -> Call[list[Garden]]:
    return Call("GET", "/v1/gardens", _gardens)


def get_garden(garden: str) -> Call[Garden]:
    return Call("GET", f"/v1/gardens/{segment(garden)}", Garden.model_validate)


def delete_garden(garden: str) -> Call[None]:
    return Call("DELETE", f"/v1/gardens/{segment(garden)}", _none)


def list_garden_members(garden: str) -> Call[list[GardenMember]]:
    return Call("GET", f"/v1/gardens/{segment(garden)}/members", _members)


def add_garden_member(garden: str, entity_uri: str, role: str) -> Call[GardenMember]:
    body = {"entity_uri": entity_uri, "role": role}
    path = f"/v1/gardens/{segment(garden)}/members"
    return Call("POST", path, GardenMember.model_validate, json=body)


def update_garden_member(garden: str, entity_uri: str, role: str) -> Call[GardenMember]:
    path = f"/v1/gardens/{segment(garden)}/members/{segment(entity_uri)}"
    return Call("PATCH", path, GardenMember.model_validate, json={"role": role})


def remove_garden_member(garden: str, entity_uri: str) -> Call[None]:
    path = f"/v1/gardens/{segment(garden)}/members/{segment(entity_uri)}"
    return Call("DELETE", path, _none)


def list_peers() -> Call[list[Peer]]:
    return Call("GET", "/v1/federation/peers", _peers)


def register_peer(declaration: Mapping[str, Any]) -> Call[PeerRegistration]:
    path = "/v1/federation/peers"
    return Call("POST", path, PeerRegistration.model_validate, json=dict(declaration))


def approve_peer(peer_id: str, pubkey_fingerprint: str) -> Call[PeerApproval]:
    path = f"/v1/federation/peers/{segment(peer_id)}/approve"
    body = {"pubkey_fingerprint": pubkey_fingerprint}
    return Call("POST", path, PeerApproval.model_validate, json=body)


def remove_peer(peer_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/federation/peers/{segment(peer_id)}", _none)
