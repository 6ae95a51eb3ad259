"""Routes of the conflicts feature."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.facts.models import FactRecord, FactValue

router = APIRouter(tags=["conflicts"])


class ConflictOut(BaseModel):
    conflict_id: str
    fact_a: FactRecord | None
    fact_b: FactRecord | None
    status: str
    resolved_by: str | None
    detected_at: str


class ConflictPage(BaseModel):
    conflicts: list[ConflictOut]
    cursor: str | None
    has_more: bool


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    winning_fact_id: str | None = None
    resolution_note: str = ""
    new_value: FactValue | None = None


class ResolveResponse(BaseModel):
    resolution_fact_id: str
    conflict_status: str


@router.get("/v1/conflicts", response_model=ConflictPage)
async def list_conflicts(
    node: NodeDep,
    caller: CallerDep,
    status: Literal["unresolved", "resolved"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    page: dict[str, Any] = await node.conflicts.list(caller, status, cursor, limit)
    return json_response(page)


@router.post("/v1/conflicts/{conflict_id}/resolve", response_model=ResolveResponse)
async def resolve_conflict(
    node: NodeDep, caller: CallerDep, conflict_id: str, body: ResolveRequest
) -> Response:
    result = await node.conflicts.resolve(caller, conflict_id, body.winning_fact_id, body.new_value)
    return json_response(result)
