"""Wire models of the fact routes (field names are the protocol's)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stigmem_node.clock import parse_ts
from stigmem_node.facts.values import ValueMismatch, check_value

Scope = Literal["local", "team", "company", "public"]
SCOPES: tuple[str, ...] = ("local", "team", "company", "public")
ValueType = Literal["string", "text", "number", "boolean", "datetime", "ref", "null"]

MAX_NAME = 2048


def _check_text(value: str, *, allow_controls: bool) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    if not allow_controls and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class FactValue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: ValueType
    v: Any = None
    interpret_as: Literal["content", "instruction"] = "content"

    @model_validator(mode="after")
    def _v_matches_type(self) -> FactValue:
        try:
            check_value(self.type, self.v)
        except ValueMismatch as exc:
            raise ValueError(str(exc)) from None
        if isinstance(self.v, str):
            _check_text(self.v, allow_controls=self.type == "text")
        return self


class AttestationToken(BaseModel):
    key_id: str = Field(min_length=1, max_length=256)
    signature: str = Field(min_length=1, max_length=512)


class AssertRequest(BaseModel):
    """``POST /v1/facts`` body. Unknown fields are ignored, as upstream does."""

    model_config = ConfigDict(extra="ignore")

    entity: str = Field(min_length=1, max_length=MAX_NAME)
    relation: str = Field(min_length=1, max_length=MAX_NAME)
    value: FactValue
    source: str = Field(min_length=1, max_length=MAX_NAME)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0, allow_inf_nan=False, strict=False)
    scope: Scope = "local"
    valid_until: str | None = Field(default=None, description="ISO 8601 expiry; null = never")
    attestation: AttestationToken | None = None
    garden_id: str | None = Field(default=None, max_length=MAX_NAME)
    write_mode: Literal["assert", "summarize_with_provenance"] = "assert"
    derived_from: list[dict[str, Any]] = Field(default_factory=list, max_length=256)

    @field_validator("entity", "relation", "source")
    @classmethod
    def _names(cls, value: str) -> str:
        return _check_text(value, allow_controls=False)

    @field_validator("confidence", mode="before")
    @classmethod
    def _no_bool_confidence(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("confidence must be a number between 0 and 1")
        return value

    @field_validator("valid_until")
    @classmethod
    def _parse_valid_until(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_ts(value)
            except ValueError:
                raise ValueError("valid_until must be an ISO 8601 timestamp") from None
        return value


class BatchRequest(BaseModel):
    """``POST /v1/facts/batch`` (protocol Spec-14). Items are checked one by one."""

    model_config = ConfigDict(extra="ignore")

    facts: list[dict[str, Any]] = Field(min_length=1)
    atomic: bool = False
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=256)


class FactValueOut(BaseModel):
    type: str
    v: Any
    interpret_as: str


class FactRecord(BaseModel):
    """The 26-field record every fact-returning route emits (documentation model)."""

    id: str
    entity: str
    relation: str
    value: FactValueOut
    source: str
    timestamp: str
    hlc: str
    received_from: str | None
    valid_until: str | None
    confidence: float
    scope: str
    attested_key_id: str | None
    origin_node_id: str | None
    origin_allowed_scopes: list[str] | None
    garden_id: str | None
    attested: bool | None
    contradicted: bool
    warnings: list[str]
    source_trust: float | None
    quarantine_status: str | None
    quarantine_garden_id: str | None
    effective_confidence: float | None
    sanitizer_warnings: list[str]
    sanitizer_redacted: bool
    cid: str | None
    derived_from: list[dict[str, Any]]


class FactPage(BaseModel):
    facts: list[FactRecord]
    total: int
    cursor: str | None
    tombstone_notices: list[Any]


class BatchResult(BaseModel):
    index: int
    status: int
    fact: FactRecord | None = None
    detail: Any = None


class BatchResponse(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchResult]


class ProvenanceLink(BaseModel):
    hash: str | None
    fact_id: str | None
    entity: str | None
    exists: bool


class ProvenanceResponse(BaseModel):
    fact_id: str
    cid: str | None
    derived_from: list[ProvenanceLink]


class VerifyCidRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cid: str | None = None


class VerifyCidResponse(BaseModel):
    cid_valid: bool
    computed_cid: str
    stored_cid: str | None
    mismatch_reason: str | None
