"""Routes of the audit log: fact events (``read``), CSV export, every event (``audit.read``)."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from stigmem_node.audit.store import FACT_EVENT_FIELDS, AdminEventFilter, FactEventFilter
from stigmem_node.clock import normalise_ts
from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.errors import BadRequest
from stigmem_node.facts.uri import InvalidEntityURI, normalise_uri

router = APIRouter(tags=["audit"])

Text = Annotated[str | None, Query(max_length=2048)]


class AuditLogEntry(BaseModel):
    id: str
    fact_id: str
    event_type: str
    entity_uri: str | None
    oidc_sub: str | None
    source: str
    attested_key_id: str | None
    ts: str
    attested_key_entity_uri: str | None = None
    attested_key_description: str | None = None
    fact_entity: str | None = None
    fact_relation: str | None = None
    fact_value_type: str | None = None
    fact_value_v: str | None = None
    fact_scope: str | None = None


class AuditLogResponse(BaseModel):
    entries: list[AuditLogEntry]
    total: int
    cursor: str | None


class AdminAuditEntry(BaseModel):
    seq: int | None
    id: str
    event_type: str
    entity_uri: str | None
    oidc_sub: str | None
    fact_id: str | None
    source: str
    attested_key_id: str | None
    ts: str
    tenant_id: str | None
    detail: str | None


class AdminAuditResponse(BaseModel):
    entries: list[AdminAuditEntry]
    total: int
    next_cursor: int | None


def _filter(
    entity_uri: str | None,
    oidc_sub: str | None,
    source: str | None,
    fact_id: str | None,
    attested: bool | None,
) -> FactEventFilter:
    if source is not None:
        # Best effort, as the fact query does: an unnormalisable source then matches nothing.
        with contextlib.suppress(InvalidEntityURI):
            source = normalise_uri(source)
    return FactEventFilter(entity_uri, oidc_sub, source, fact_id, attested)


@router.get("/v1/audit", response_model=AuditLogResponse)
async def query_audit(
    node: NodeDep,
    caller: CallerDep,
    entity_uri: Text = None,
    oidc_sub: Text = None,
    source: Text = None,
    fact_id: Text = None,
    attested: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    flt = _filter(entity_uri, oidc_sub, source, fact_id, attested)
    return json_response(await node.audit.fact_events(caller, flt, cursor, limit))


@router.get("/v1/audit/export")
async def export_audit(
    node: NodeDep,
    caller: CallerDep,
    entity_uri: Text = None,
    oidc_sub: Text = None,
    source: Text = None,
    fact_id: Text = None,
    attested: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
) -> Response:
    flt = _filter(entity_uri, oidc_sub, source, fact_id, attested)
    rows = await node.audit.export(caller, flt, limit)
    return StreamingResponse(
        _csv_lines(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="stigmem-audit.csv"'},
    )


@router.get("/v1/audit/facts/{fact_id}", response_model=list[AuditLogEntry])
async def fact_audit(node: NodeDep, caller: CallerDep, fact_id: str) -> Response:
    return json_response(await node.audit.fact_trail(caller, fact_id))


@router.get("/v1/admin/audit", response_model=AdminAuditResponse)
async def admin_audit(
    node: NodeDep,
    caller: CallerDep,
    since: Annotated[str | None, Query(description="ISO 8601 lower bound on ts")] = None,
    until: Annotated[str | None, Query(description="ISO 8601 upper bound on ts")] = None,
    principal: Text = None,
    event_type: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    flt = AdminEventFilter(_ts("since", since), _ts("until", until), principal, event_type)
    return json_response(await node.audit.admin_events(caller, flt, cursor, limit))


def _ts(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_ts(value)
    except ValueError:
        raise BadRequest(
            {"code": "invalid_timestamp", "message": f"{name} must be an ISO 8601 timestamp"}
        ) from None


# Spreadsheets run cells starting with these as formulas (CSV injection); such cells get a
# leading apostrophe. Plain negative numbers are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def _csv_lines(rows: AsyncIterator[tuple[Any, ...]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FACT_EVENT_FIELDS)
    count = 0
    async for row in rows:
        writer.writerow([_cell(v) for v in row])
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
