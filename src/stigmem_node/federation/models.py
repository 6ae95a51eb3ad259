"""Wire models of the federation routes (field names are the protocol's)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stigmem_node.federation.client import check_peer_url
from stigmem_node.federation.keys import public_key_from_text

Scope = Literal["local", "team", "company", "public"]
MAX_PUSH_FACTS = 1000


class RegisterPeerRequest(BaseModel):
    """``POST /v1/federation/peers``: the declaring node's signed PeerDeclaration."""

    model_config = ConfigDict(extra="ignore")

    node_id: str = Field(min_length=1, max_length=256)
    node_url: str = Field(min_length=1, max_length=2048)
    federation_pubkey: str = Field(min_length=1, max_length=256)
    allowed_scopes: list[Scope] = Field(min_length=1, max_length=4)
    signed_at: str = Field(min_length=1, max_length=64)
    declaration_sig: str = Field(min_length=1, max_length=256)

    @field_validator("node_url")
    @classmethod
    def _url(cls, value: str) -> str:
        check_peer_url(value)  # ValueError → 422; the URL is kept exactly as signed
        return value

    @field_validator("federation_pubkey")
    @classmethod
    def _key(cls, value: str) -> str:
        public_key_from_text(value)  # ValueError → 422
        return value


class RegisterPeerResponse(BaseModel):
    peer_id: str
    status: str
    verified_at: str | None


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pubkey_fingerprint: str = Field(min_length=1, max_length=128)


class ApproveResponse(BaseModel):
    peer_id: str
    node_id: str
    status: str
    approved_at: str


class PeerOut(BaseModel):
    peer_id: str
    node_id: str
    node_url: str
    status: str
    allowed_scopes: list[str]
    established_at: str | None
    pubkey_fingerprint: str


class PeerList(BaseModel):
    peers: list[PeerOut]


class FactPage(BaseModel):
    facts: list[dict[str, Any]]
    cursor: str | None
    has_more: bool


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: list[Any] = Field(max_length=MAX_PUSH_FACTS)


class PushError(BaseModel):
    fact_id: str | None
    error: str


class PushResponse(BaseModel):
    accepted: int
    rejected: int
    errors: list[PushError]


class AuditEntry(BaseModel):
    id: str
    peer_id: str | None
    event_type: str
    detail: dict[str, Any] | None
    ts: str


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    cursor: str | None
    has_more: bool
