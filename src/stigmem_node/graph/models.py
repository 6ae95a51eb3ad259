"""Wire models of the graph routes (documentation; responses are built as plain dicts)."""

from __future__ import annotations

from pydantic import BaseModel


class NeighborItem(BaseModel):
    entity: str
    relation: str
    hops: int
    confidence: float
    source_trust: float | None
    path: list[str]


class NeighborsResponse(BaseModel):
    entity: str
    depth: int
    neighbors: list[NeighborItem]
    next_cursor: str | None
    total_hint: int
