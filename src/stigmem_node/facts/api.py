"""Routes of the fact feature: thin wrappers that parse, call the service, return JSON."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from stigmem_node.db import Cursor
from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.errors import BadRequest, NotImplementedYet
from stigmem_node.facts.models import (
    SCOPES,
    AssertRequest,
    BatchRequest,
    BatchResponse,
    FactPage,
    FactRecord,
    ProvenanceResponse,
    VerifyCidRequest,
    VerifyCidResponse,
)
from stigmem_node.facts.query import FactQuery, decode_cursor, parse_after, query_facts_txn
from stigmem_node.facts.uri import InvalidEntityURI, normalise_uri

router = APIRouter(tags=["facts"])

SCOPE_ERROR = "scope must be one of {'local', 'team', 'company', 'public'}"


def check_scope(scope: str | None) -> str | None:
    if scope is not None and scope not in SCOPES:
        raise BadRequest(SCOPE_ERROR)
    return scope


def _norm(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_uri(value)
    except InvalidEntityURI:
        return value  # best effort, as upstream: an unnormalisable filter matches nothing


@router.post("/v1/facts", status_code=201, response_model=FactRecord)
async def assert_fact(node: NodeDep, caller: CallerDep, body: AssertRequest) -> Response:
    outcome = await node.facts.assert_fact(caller, body)
    if outcome.created:
        node.metrics.facts_written.inc()
        if outcome.conflict_ids:
            node.metrics.conflicts_detected.inc(len(outcome.conflict_ids))
    return json_response(outcome.record, 201)


@router.post(
    "/v1/facts/batch",
    response_model=BatchResponse,
    responses={422: {"description": "validation error, or an atomic batch with a bad item"}},
)
async def assert_batch(
    node: NodeDep, caller: CallerDep, request: Request, body: BatchRequest
) -> Response:
    limit = node.settings.max_batch_facts
    if len(body.facts) > limit:
        raise BadRequest(
            {"code": "batch_too_large", "message": f"a batch holds at most {limit} facts"}
        )
    digest = hashlib.sha256(await request.body()).hexdigest()
    result = await node.facts.assert_batch(
        caller,
        body.facts,
        atomic=body.atomic,
        idempotency_key=body.idempotency_key,
        body_digest=digest,
    )
    node.metrics.facts_written.inc(result["accepted"])
    return json_response(result, 200)


@router.get("/v1/facts", response_model=FactPage)
async def query_facts(
    node: NodeDep,
    caller: CallerDep,
    entity: str | None = None,
    relation: str | None = None,
    source: str | None = None,
    scope: str | None = None,
    min_confidence: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    include_contradicted: bool = False,
    include_expired: bool = False,
    after: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    garden_id: str | None = None,
    attested: bool | None = None,
    include_low_trust: bool = False,
    as_of: str | None = None,
) -> Response:
    caller.require("read")
    if as_of is not None:
        raise NotImplementedYet(
            {
                "code": "time_travel_plugin_not_loaded",
                "message": "as_of queries are not available on this node yet",
            }
        )
    garden = await node.facts.garden_filter(caller, garden_id) if garden_id is not None else None
    query = FactQuery(
        entity=_norm(entity),
        relation=relation,
        source=_norm(source),
        scope=check_scope(scope),
        min_confidence=min_confidence,
        include_contradicted=include_contradicted,
        include_expired=include_expired,
        after=parse_after(after) if after is not None else None,
        attested=attested,
        garden_id=garden,
        limit=limit,
        before_seq=decode_cursor(cursor) if cursor else None,
    )
    view = await node.facts.view_for(caller)
    facts, total, next_cursor = await node.db.read(
        "query_facts", query_facts_txn, query, view, small=query.entity is not None
    )
    body = {"facts": facts, "total": total, "cursor": next_cursor, "tombstone_notices": []}
    return json_response(body, headers={"X-Total-Count": str(total)})


@router.get("/v1/facts/{fact_id}", response_model=FactRecord)
async def get_fact(node: NodeDep, caller: CallerDep, fact_id: str) -> Response:
    return json_response(await node.facts.get_fact(caller, fact_id))


@router.get("/v1/facts/{fact_id}/provenance", response_model=ProvenanceResponse)
async def provenance(node: NodeDep, caller: CallerDep, fact_id: str) -> Response:
    return json_response(await node.facts.provenance(caller, fact_id))


@router.post("/v1/facts/{fact_id}/verify-cid", response_model=VerifyCidResponse)
async def verify_cid(
    node: NodeDep,
    caller: CallerDep,
    fact_id: str,
    body: Annotated[VerifyCidRequest | None, Body()] = None,
) -> Response:
    return json_response(await node.facts.verify_cid(caller, fact_id))


@router.get("/v1/admin/cid-backfill/status")
async def cid_backfill_status(node: NodeDep, caller: CallerDep) -> Response:
    caller.require("read")
    total, with_cid = await node.db.read("cid_status", _cid_counts_txn)
    return json_response(
        {
            "total_facts": total,
            "backfilled_facts": with_cid,
            "pending_facts": total - with_cid,
            "backfill_complete": total == with_cid,
        }
    )


def _cid_counts_txn(cur: Cursor) -> tuple[int, int]:
    row = cur.execute("SELECT COUNT(*), COUNT(cid) FROM facts").fetchone()
    return int(row[0]), int(row[1])
