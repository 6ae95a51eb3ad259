"""Route of the graph: ``GET /v1/graph/neighbors``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.errors import BadRequest
from stigmem_node.facts.api import check_scope
from stigmem_node.facts.models import MAX_NAME
from stigmem_node.facts.uri import InvalidEntityURI, normalise_uri
from stigmem_node.graph.models import NeighborsResponse
from stigmem_node.graph.service import NeighborQuery

router = APIRouter(tags=["graph"])


@router.get("/v1/graph/neighbors", response_model=NeighborsResponse)
async def graph_neighbors(
    node: NodeDep,
    caller: CallerDep,
    entity: Annotated[str, Query(max_length=MAX_NAME, description="Seed entity URI")],
    scope: Annotated[str, Query(description="Scope to traverse; required")],
    depth: Annotated[int, Query(ge=1, description="Traversal depth (1-3)")] = 1,
    relation_filter: Annotated[
        str | None, Query(max_length=MAX_NAME, description="Relations or 'prefix:*' globs")
    ] = None,
    min_confidence: Annotated[float, Query(ge=0.0, le=1.0)] = 0.1,
    min_trust: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Response:
    """Entities reachable from ``entity`` over live ``ref`` facts, nearest first."""
    caller.require("read")
    try:
        seed = normalise_uri(entity)
    except InvalidEntityURI as exc:
        raise BadRequest(str(exc)) from None
    query = NeighborQuery(
        entity=seed,
        scope=check_scope(scope) or scope,
        depth=depth,
        relation_filter=relation_filter,
        min_confidence=min_confidence,
        min_trust=min_trust,
        page_size=page_size,
        cursor=cursor,
    )
    return json_response(await node.graph.neighbors(caller, query))
