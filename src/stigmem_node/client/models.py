"""Typed views of the node's responses (field names are the protocol's).

Every model keeps unknown fields (``extra="allow"``), so a newer node adding a field never
breaks an older client, and fields a route may omit have defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["local", "team", "company", "public"]
ValueType = Literal["string", "text", "number", "boolean", "datetime", "ref", "null"]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class FactValue(WireModel):
    """``{"type", "v", "interpret_as"}``. Build one from a Python value with ``of``."""

    type: ValueType
    v: Any = None
    interpret_as: Literal["content", "instruction"] = "content"

    @classmethod
    def of(cls, value: Any, value_type: ValueType | None = None) -> FactValue:
        """Wrap a plain value, inferring ``type`` unless given (datetimes become ISO 8601)."""
        if isinstance(value, FactValue):
            return value
        if isinstance(value, datetime):
            return cls(type=value_type or "datetime", v=value.isoformat())
        return cls(type=value_type or infer_type(value), v=value)

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "v": self.v}
        if self.interpret_as != "content":
            body["interpret_as"] = self.interpret_as
        return body


def infer_type(value: Any) -> ValueType:
    """The value type a plain Python value maps to (``str`` → string, never text or ref)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise TypeError(f"cannot infer a fact value type for {type(value).__name__}; pass FactValue")


class Fact(WireModel):
    """A FactRecord (26 fields on our node; upstream's subset parses too)."""

    id: str
    entity: str
    relation: str
    value: FactValue
    source: str
    timestamp: str
    hlc: str | None = None
    received_from: str | None = None
    valid_until: str | None = None
    confidence: float = 1.0
    scope: str = "local"
    attested_key_id: str | None = None
    origin_node_id: str | None = None
    origin_allowed_scopes: list[str] | None = None
    garden_id: str | None = None
    attested: bool | None = None
    contradicted: bool = False
    warnings: list[str] = Field(default_factory=list)
    source_trust: float | None = None
    quarantine_status: str | None = None
    quarantine_garden_id: str | None = None
    effective_confidence: float | None = None
    sanitizer_warnings: list[str] = Field(default_factory=list)
    sanitizer_redacted: bool = False
    cid: str | None = None
    derived_from: list[dict[str, Any]] = Field(default_factory=list)


class FactPage(WireModel):
    facts: list[Fact]
    total: int | None = None
    cursor: str | None = None
    tombstone_notices: list[Any] = Field(default_factory=list)


class BatchItem(WireModel):
    index: int
    status: int
    fact: Fact | None = None
    detail: Any = None


class BatchResult(WireModel):
    accepted: int
    rejected: int
    results: list[BatchItem]


class Conflict(WireModel):
    conflict_id: str
    fact_a: Fact | None = None
    fact_b: Fact | None = None
    status: str
    resolved_by: str | None = None
    detected_at: str | None = None


class ConflictPage(WireModel):
    conflicts: list[Conflict]
    cursor: str | None = None
    has_more: bool = False


class Resolution(WireModel):
    resolution_fact_id: str
    conflict_status: str


class ScoreBreakdown(WireModel):
    lexical: float = 0.0
    semantic: float = 0.0
    graph: float = 0.0
    source_trust: float = 0.0
    recency: float = 0.0
    weighted_total: float = 0.0


class ScoredFact(WireModel):
    fact: Fact
    score: float
    score_breakdown: ScoreBreakdown | None = None
    hop_distance: int | None = None
    token_estimate: int | None = None
    from_card: bool = False


class RecallResult(WireModel):
    recall_id: str | None = None
    query_hash: str | None = None
    facts: list[ScoredFact]
    content: list[Any] = Field(default_factory=list)
    instructions: list[Any] = Field(default_factory=list)
    total_scored: int | None = None
    token_budget: int | None = None
    tokens_used: int | None = None
    truncated: bool = False
    tombstone_notices: list[Any] = Field(default_factory=list)
    chain_proof: Any = None


class LintFinding(WireModel):
    check: str
    severity: str
    entity: str | None = None
    relation: str | None = None
    fact_ids: list[str] = Field(default_factory=list)
    detail: Any = None


class LintReport(WireModel):
    findings: list[LintFinding]
    checked_at: str | None = None
    scope: str | None = None
    checks_run: list[str] = Field(default_factory=list)
    fact_count: int | None = None


class Job(WireModel):
    """An async job (lint or decay above the node's threshold); results are extra fields."""

    job_id: str
    status: str
    estimated_s: float | None = None


class GardenMember(WireModel):
    entity_uri: str
    role: str
    added_by: str | None = None
    added_at: str | None = None


class Garden(WireModel):
    id: str
    garden_id: str
    slug: str
    name: str | None = None
    scope: str | None = None
    description: str | None = None
    created_by: str | None = None
    created_at: str | None = None
    members: list[GardenMember] = Field(default_factory=list)
    quarantine: bool = False


class Peer(WireModel):
    peer_id: str
    node_id: str
    node_url: str | None = None
    status: str
    allowed_scopes: list[str] = Field(default_factory=list)
    established_at: str | None = None


class PeerRegistration(WireModel):
    peer_id: str
    status: str
    verified_at: str | None = None


class PeerApproval(WireModel):
    peer_id: str
    node_id: str
    status: str
    approved_at: str | None = None


class Identity(WireModel):
    """``GET /v1/me``: who the API key is."""

    entity_uri: str
    permissions: list[str]
    oidc_sub: str | None = None
    tenant_id: str | None = None
