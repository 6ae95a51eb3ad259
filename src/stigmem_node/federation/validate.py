"""Checking what a peer sends, fact by fact (pure: no I/O).

``check_fact`` turns one wire FactRecord into a ``NewFact`` ready to insert (with its
``stigmem:received_from`` provenance meta-fact, also prepared here, off the writer thread), or
raises ``Rejected`` with a stable reason code (the push response's ``error``, the audit's
``reason``). The rules are those of CONTRACT §6 and ``federation/__init__.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from stigmem_node.clock import format_ts, parse_ts
from stigmem_node.facts.cid import CID_RE, compute_cid
from stigmem_node.facts.hlc import parse_hlc
from stigmem_node.facts.store import NewFact
from stigmem_node.facts.uri import is_reserved
from stigmem_node.facts.values import VALUE_TYPES, ValueMismatch, check_value, encode_v

SCOPES = ("local", "team", "company", "public")
NODE_PREFIX = "stigmem:node:"
MAX_NAME = 2048
MAX_DERIVED = 256
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HELD_STATUSES = frozenset({"pending", "rejected", "quarantined"})


class Rejected(Exception):
    """One fact refused; ``reason`` is a stable code, ``message`` says why."""

    def __init__(self, reason: str, message: str, **detail: Any) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """What a peer may send us, and the bounds its facts must respect."""

    sender: str  # the peer's node id
    local_node_id: str
    permitted_scopes: frozenset[str]
    declared_scopes: tuple[str, ...]  # stored as origin_allowed_scopes
    now_ms: int
    max_future_ms: int
    max_past_ms: int
    max_text_bytes: int
    system_source: str = "system:stigmem"
    required_source: str | None = None  # capability pushes: the token's subject


@dataclass(slots=True)
class Incoming:
    fact: NewFact
    timestamp: str
    observe_hlc: str | None  # merged into our HLC when within the skew bounds
    provenance: NewFact  # the (fact id, stigmem:received_from, ref sender) meta-fact


@dataclass(slots=True)
class Rejection:
    fact_id: str | None
    reason: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def event(self) -> str:
        return "scope_violation" if self.reason == "scope_not_permitted" else "rejected_fact"


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise Rejected("malformed_fact", f"{name} must be a non-empty string")
    if "\x00" in value:
        raise Rejected("malformed_fact", f"{name} must not contain NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected("malformed_fact", f"{name} must be valid Unicode") from None
    return value


def _optional_text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    return _text(raw, name)


def _value(raw: dict[str, Any], max_text_bytes: int) -> tuple[str, Any, str]:
    value = raw.get("value")
    if not isinstance(value, dict):
        raise Rejected("malformed_fact", "value must be an object")
    value_type = value.get("type")
    interpret_as = value.get("interpret_as", "content")
    if value_type not in VALUE_TYPES or interpret_as not in ("content", "instruction"):
        raise Rejected("invalid_value", "unknown value type or interpret_as")
    v = value.get("v")
    try:
        check_value(value_type, v)
    except ValueMismatch as exc:
        raise Rejected("invalid_value", str(exc)) from None
    if isinstance(v, str):
        if len(v.encode("utf-8", "surrogatepass")) > max_text_bytes:
            raise Rejected("value_too_large", f"value.v is over {max_text_bytes} bytes")
        if value_type != "text" and "\x00" in v:
            raise Rejected("invalid_value", "value.v must not contain NUL")
    return value_type, v, interpret_as


def _confidence(raw: dict[str, Any]) -> float:
    value = raw.get("confidence")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("malformed_fact", "confidence must be a number")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise Rejected("malformed_fact", "confidence must be between 0 and 1")
    return float(value)


def _scope(raw: dict[str, Any], policy: IngestPolicy) -> str:
    scope = raw.get("scope")
    if scope not in SCOPES:
        raise Rejected("malformed_fact", "scope must be local, team, company or public")
    if scope not in policy.permitted_scopes:
        raise Rejected(
            "scope_not_permitted",
            f"scope {scope!r} is outside what this peer may send",
            scope=scope,
            permitted=sorted(policy.permitted_scopes),
        )
    return str(scope)


def _timestamp(raw: dict[str, Any], policy: IngestPolicy) -> str:
    text = raw.get("timestamp")
    try:
        moment = parse_ts(text) if isinstance(text, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise Rejected("malformed_fact", "timestamp must be an ISO 8601 timestamp")
    if moment.timestamp() * 1000 > policy.now_ms + policy.max_future_ms:
        raise Rejected("timestamp_in_future", "timestamp is beyond the allowed clock skew")
    return format_ts(moment)


def _hlc(raw: dict[str, Any], policy: IngestPolicy) -> str | None:
    """The remote HLC to merge, or None (absent, or older than the past bound: such a fact
    is still accepted, as a node with a long history must be able to take on new peers)."""
    text = raw.get("hlc")
    if text is None:
        return None
    if not isinstance(text, str):
        raise Rejected("malformed_fact", "hlc must be a string")
    try:
        wall, _counter = parse_hlc(text)
    except ValueError:
        raise Rejected("malformed_fact", "hlc is not '<wall_ms>.<counter>'") from None
    if wall > policy.now_ms + policy.max_future_ms:
        raise Rejected("hlc_skew", "hlc is beyond the allowed future skew", hlc=text)
    if wall < policy.now_ms - policy.max_past_ms:
        return None
    return text


def _valid_until(raw: dict[str, Any]) -> str | None:
    text = raw.get("valid_until")
    if text is None:
        return None
    try:
        if not isinstance(text, str):
            raise ValueError
        parse_ts(text)
    except ValueError:
        raise Rejected("malformed_fact", "valid_until must be an ISO 8601 timestamp") from None
    return text


def _derived_from(raw: dict[str, Any]) -> list[dict[str, Any]]:
    value = raw.get("derived_from") or []
    if (
        not isinstance(value, list)
        or len(value) > MAX_DERIVED
        or not all(isinstance(item, dict) for item in value)
    ):
        raise Rejected("malformed_fact", "derived_from must be a list of objects")
    return value


def _origin(raw: dict[str, Any], scope: str, policy: IngestPolicy) -> str:
    """Who first asserted the fact. Only public facts are relayed, so any other fact must
    come from its origin (the per-hop rule: company facts are never re-federated)."""
    origin = _optional_text(raw, "origin_node_id")
    received_from = _optional_text(raw, "received_from")
    if origin is None and received_from is not None:
        origin = received_from
    origin = origin or policy.sender
    if origin != policy.sender and scope != "public":
        raise Rejected("relayed_non_public", "only public facts may be relayed from another node")
    return origin


def _check_source(source: str, origin: str, policy: IngestPolicy) -> None:
    """A peer may not attribute facts to this node, to the node's system source, or to a
    node other than the fact's origin (a forged source)."""
    if policy.required_source is not None and source != policy.required_source:
        raise Rejected("source_not_owned", f"source {source!r} is not the token's subject")
    if source.startswith(NODE_PREFIX):
        if source != origin or source == policy.local_node_id:
            raise Rejected("source_not_owned", f"source {source!r} names another node")
    elif source == policy.system_source or is_reserved(source):
        raise Rejected("source_not_owned", f"source {source!r} is not the peer's to use")


def _value_v(value_type: str, v: Any, cid: str | None, content: dict[str, Any]) -> tuple[str, str]:
    """The stored encoding and the CID. Upstream serves integral numbers as floats (``42.0``)
    with a CID over ``"42"``, so both encodings are tried against a supplied CID."""
    candidates = [encode_v(value_type, v)]
    if value_type == "number" and isinstance(v, float) and v.is_integer():
        candidates.append(str(int(v)))
    for value_v in candidates:
        computed = compute_cid(value_type=value_type, value_v=value_v, **content)
        if cid is None or computed == cid:
            return value_v, computed
    raise Rejected("cid_mismatch", "cid does not match the fact's content", cid=cid)


def _never_federated(raw: dict[str, Any], entity: str, relation: str, interpret_as: str) -> None:
    """Kinds of fact that never cross a node boundary, whatever the peer."""
    if is_reserved(entity) or is_reserved(relation) or relation.startswith("garden:"):
        raise Rejected("reserved_name", "protocol metadata is never federated")
    if raw.get("garden_id") is not None:
        raise Rejected("garden_fact", "garden-tagged facts never federate")
    if raw.get("quarantine_status") in HELD_STATUSES:
        raise Rejected("quarantined_fact", "quarantined facts never federate")
    if interpret_as == "instruction" or "instruction:" in (entity[:12], relation[:12]):
        # Upstream needs a quarantine garden for these (and stalls without one); this node
        # has no inbound quarantine yet, so it refuses them (audited) instead.
        raise Rejected("instruction_not_accepted", "instruction facts are not accepted")


def _cid(raw: dict[str, Any]) -> str | None:
    cid = raw.get("cid")
    if cid is not None and (not isinstance(cid, str) or not CID_RE.match(cid)):
        raise Rejected("malformed_fact", "cid must be 'sha256:' and 64 lowercase hex digits")
    return cid


def check_fact(raw: Any, policy: IngestPolicy) -> Incoming:
    """One wire fact → an ``Incoming``; raises ``Rejected`` with the first problem found."""
    if not isinstance(raw, dict):
        raise Rejected("malformed_fact", "a fact must be a JSON object")
    fact_id = raw.get("id")
    if not isinstance(fact_id, str) or not _UUID.match(fact_id):
        raise Rejected("malformed_fact", "id must be a UUID")
    entity, relation, source = _text(raw, "entity"), _text(raw, "relation"), _text(raw, "source")
    value_type, v, interpret_as = _value(raw, policy.max_text_bytes)
    confidence, scope = _confidence(raw), _scope(raw, policy)
    _never_federated(raw, entity, relation, interpret_as)
    timestamp, observe = _timestamp(raw, policy), _hlc(raw, policy)
    origin = _origin(raw, scope, policy)
    _check_source(source, origin, policy)
    content: dict[str, Any] = {"entity": entity, "relation": relation, "source": source,
               "confidence": confidence, "scope": scope}  # fmt: skip
    value_v, cid = _value_v(value_type, v, _cid(raw), content)
    fact = NewFact(
        **content, value_type=value_type, value_v=value_v, interpret_as=interpret_as,
        valid_until=_valid_until(raw), derived_from=_derived_from(raw), writer=policy.sender,
        received_from=policy.sender, origin_node_id=origin,
        origin_allowed_scopes=sorted(policy.declared_scopes),
        re_federation_blocked=scope != "public", id=fact_id, cid=cid,
    )  # fmt: skip
    return Incoming(fact, timestamp, observe, provenance(fact_id, policy))


def provenance(fact_id: str, policy: IngestPolicy) -> NewFact:
    """The ``(fact id, stigmem:received_from, ref sender)`` meta-fact recorded with every
    ingested fact (upstream's shape: local scope, the node's system source)."""
    return NewFact(entity=fact_id, relation="stigmem:received_from", value_type="ref",
                   value_v=policy.sender, source=policy.system_source, confidence=1.0,
                   scope="local", writer=policy.system_source)  # fmt: skip


def check_page(
    raw_facts: list[Any], policy: IngestPolicy
) -> tuple[list[Incoming], list[Rejection]]:
    incoming: list[Incoming] = []
    rejections: list[Rejection] = []
    for raw in raw_facts:
        try:
            incoming.append(check_fact(raw, policy))
        except Rejected as exc:
            fact_id = raw.get("id") if isinstance(raw, dict) else None
            rejections.append(
                Rejection(
                    fact_id if isinstance(fact_id, str) else None,
                    exc.reason,
                    exc.message,
                    exc.detail,
                )
            )
    return incoming, rejections
