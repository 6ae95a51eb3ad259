"""Routes of decay: ``POST /v1/decay/sweep`` (query parameters only) and job polling."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.facts.api import check_scope

router = APIRouter(tags=["decay"])


@router.post(
    "/v1/decay/sweep",
    responses={202: {"description": "a job was started: {job_id, status, estimated_s}"}},
)
async def decay_sweep(
    node: NodeDep,
    caller: CallerDep,
    dry_run: Annotated[bool, Query(description="Report what would decay; write nothing")] = False,
    scope: Annotated[str | None, Query(description="Restrict the sweep to one scope")] = None,
    ttl_seconds: Annotated[
        int | None, Query(ge=0, description="Expire facts without an expiry older than N s")
    ] = None,
    min_confidence: Annotated[
        float | None, Query(ge=0.0, le=1.0, description="Retract live facts below this")
    ] = None,
) -> Response:
    """Expire stale facts and retract weak ones (as new rows). 200 ``{scanned, decayed,
    dry_run}``, or 202 ``{job_id, status, estimated_s}`` above the async-job threshold."""
    caller.require("write")  # upstream order: 403 before the handler's own 400s
    status, body = await node.decay.sweep(
        caller, check_scope(scope), ttl_seconds, min_confidence, dry_run
    )
    return json_response(body, status)


@router.get("/v1/decay/jobs/{job_id}")
async def decay_job(node: NodeDep, caller: CallerDep, job_id: str) -> Response:
    return json_response(await node.jobs.get(caller, "decay", job_id))
