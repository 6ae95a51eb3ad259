"""Routes of gardens, their members and quarantine moderation (wire reference §1.6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.gardens.models import (
    ActionOut,
    GardenCreate,
    GardenOut,
    HoldPage,
    HoldStatus,
    MemberAdd,
    MemberOut,
    MemberPatch,
    PromoteRequest,
    RejectRequest,
)

router = APIRouter(tags=["gardens"])

Reason = Annotated[str, Query(max_length=4096)]
GardenQuery = Annotated[str | None, Query(max_length=2048)]


@router.post("/v1/gardens", status_code=201, response_model=GardenOut)
async def create_garden(node: NodeDep, caller: CallerDep, body: GardenCreate) -> Response:
    return json_response(await node.gardens.create(caller, body), 201)


@router.get("/v1/gardens", response_model=list[GardenOut])
async def list_gardens(node: NodeDep, caller: CallerDep) -> Response:
    return json_response(await node.gardens.list_gardens(caller))


@router.get("/v1/gardens/{garden}", response_model=GardenOut)
async def get_garden(node: NodeDep, caller: CallerDep, garden: str) -> Response:
    return json_response(await node.gardens.get(caller, garden))


@router.delete("/v1/gardens/{garden}", status_code=204)
async def delete_garden(node: NodeDep, caller: CallerDep, garden: str) -> Response:
    await node.gardens.delete(caller, garden)
    return Response(status_code=204)


@router.get("/v1/gardens/{garden}/members", response_model=list[MemberOut])
async def list_members(node: NodeDep, caller: CallerDep, garden: str) -> Response:
    return json_response(await node.gardens.members(caller, garden))


@router.post("/v1/gardens/{garden}/members", status_code=201, response_model=MemberOut)
async def add_member(node: NodeDep, caller: CallerDep, garden: str, body: MemberAdd) -> Response:
    member = await node.gardens.add_member(caller, garden, body.entity_uri, body.role)
    return json_response(member, 201)


@router.patch("/v1/gardens/{garden}/members/{entity_uri:path}", response_model=MemberOut)
async def set_member_role(
    node: NodeDep, caller: CallerDep, garden: str, entity_uri: str, body: MemberPatch
) -> Response:
    return json_response(await node.gardens.set_role(caller, garden, entity_uri, body.role))


@router.delete("/v1/gardens/{garden}/members/{entity_uri:path}", status_code=204)
async def remove_member(node: NodeDep, caller: CallerDep, garden: str, entity_uri: str) -> Response:
    await node.gardens.remove_member(caller, garden, entity_uri)
    return Response(status_code=204)


@router.post("/v1/gardens/{garden}/promote", response_model=ActionOut)
async def promote(node: NodeDep, caller: CallerDep, garden: str, body: PromoteRequest) -> Response:
    result = await node.moderation.promote(
        caller, garden, body.fact_id, body.target_garden_id, body.reason
    )
    return json_response(result)


@router.post("/v1/gardens/{garden}/reject", response_model=ActionOut)
async def reject(node: NodeDep, caller: CallerDep, garden: str, body: RejectRequest) -> Response:
    return json_response(await node.moderation.reject(caller, garden, body.fact_id, body.reason))


@router.get("/v1/quarantine", response_model=HoldPage)
async def list_quarantine(
    node: NodeDep,
    caller: CallerDep,
    garden_id: GardenQuery = None,
    quarantine_status: HoldStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    page = await node.moderation.list_holds(caller, garden_id, quarantine_status, limit, offset)
    return json_response(page)


@router.post("/v1/quarantine/{fact_id}/admit", response_model=ActionOut)
async def admit(
    node: NodeDep,
    caller: CallerDep,
    fact_id: str,
    target_garden_id: GardenQuery = None,
    reason: Reason = "",
) -> Response:
    return json_response(await node.moderation.admit(caller, fact_id, target_garden_id, reason))


@router.post("/v1/quarantine/{fact_id}/reject", response_model=ActionOut)
async def reject_held(
    node: NodeDep, caller: CallerDep, fact_id: str, reason: Reason = ""
) -> Response:
    return json_response(await node.moderation.reject_held(caller, fact_id, reason))
