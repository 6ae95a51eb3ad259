"""Wire models of recall (field names and defaults are the protocol's)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stigmem_node.facts.models import FactRecord

MAX_QUERY = 4096


class RecallWeights(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lexical: float = Field(default=0.35, ge=0.0, le=1.0)
    semantic: float = Field(default=0.35, ge=0.0, le=1.0)
    graph: float = Field(default=0.15, ge=0.0, le=1.0)
    source_trust: float = Field(default=0.10, ge=0.0, le=1.0)
    recency: float = Field(default=0.05, ge=0.0, le=1.0)


class RecallRequest(BaseModel):
    """``POST /v1/recall``. ``scope`` is checked by the handler (400, as upstream)."""

    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1, max_length=MAX_QUERY)
    scope: str = "local"
    token_budget: int = Field(default=4000, ge=1, le=200_000)
    depth: int = Field(default=2, ge=1, le=3)
    weights: RecallWeights = Field(default_factory=RecallWeights)
    min_confidence: float = Field(default=0.1, ge=0.0, le=1.0)
    include_neighbors: bool = True
    limit: int = Field(
        default=100, ge=1, le=500, description="Max candidates before token-budget packing"
    )
    as_of: str | None = Field(default=None, description="Time travel (not available yet: 501)")


class ScoreBreakdown(BaseModel):
    lexical: float
    semantic: float
    graph: float
    source_trust: float
    recency: float
    weighted_total: float


class ScoredFact(BaseModel):
    fact: FactRecord
    score: float
    score_breakdown: ScoreBreakdown
    hop_distance: int
    token_estimate: int
    from_card: bool


class RecallResponse(BaseModel):
    recall_id: str
    query_hash: str
    facts: list[ScoredFact]
    content: list[ScoredFact]
    instructions: list[ScoredFact]
    total_scored: int
    token_budget: int
    tokens_used: int
    truncated: bool
    tombstone_notices: list[Any]
    chain_proof: dict[str, Any] | None
