"""Routes of lint: ``POST /v1/lint`` and job polling."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.lint.models import LintRequest, LintResult

router = APIRouter(tags=["lint"])


@router.post(
    "/v1/lint",
    response_model=LintResult,
    responses={202: {"description": "a job was started: {job_id, status, estimated_s}"}},
)
async def lint_scope(node: NodeDep, caller: CallerDep, body: LintRequest) -> Response:
    """Health-check one scope (read-only). 200 with findings, or 202 with a job to poll."""
    status, result = await node.lint.lint(caller, body)
    return json_response(result, status)


@router.get("/v1/lint/jobs/{job_id}")
async def lint_job(node: NodeDep, caller: CallerDep, job_id: str) -> Response:
    return json_response(await node.jobs.get(caller, "lint", job_id))
