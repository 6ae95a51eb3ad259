"""Route of recall: ``POST /v1/recall``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.recall.models import RecallRequest, RecallResponse

router = APIRouter(tags=["recall"])


@router.post("/v1/recall", response_model=RecallResponse)
async def recall(
    node: NodeDep,
    caller: CallerDep,
    body: RecallRequest,
    legacy_format: Annotated[
        bool, Query(description="Omit the content / instructions channel fields")
    ] = False,
) -> Response:
    """The facts that best answer ``query`` within ``token_budget`` tokens."""
    result = await node.recall.recall(caller, body, legacy_format=legacy_format)
    return json_response(result, headers={"X-Total-Count": str(result["total_scored"])})
