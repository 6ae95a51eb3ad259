"""Writing audit events. Callers pass their open cursor so the event commits with the change.

The ``audit_log`` table is append-only (triggers refuse UPDATE, and DELETE outside the
retention path, see ``audit.retention``). Every event that records a change is written by the
same transaction as the change, so an event exists if and only if its change committed.
"""

from __future__ import annotations

from typing import Any

import orjson

from stigmem_node.db import Cursor
from stigmem_node.ids import new_time_uuid

# Entity URIs of OIDC session keys (minted only by ``POST /v1/auth/oidc/exchange``).
OIDC_ENTITY_PREFIX = "oidc:"

INSERT_SQL = (
    "INSERT INTO audit_log (id, event_type, entity_uri, oidc_sub, fact_id, source,"
    " attested_key_id, ts, tenant_id, detail) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def record_txn(
    cur: Cursor,
    ts: str,
    event_type: str,
    *,
    entity_uri: str | None = None,
    fact_id: str | None = None,
    source: str | None = None,
    attested_key_id: str | None = None,
    oidc_sub: str | None = None,
    tenant_id: str = "default",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event. ``oidc_sub`` defaults to the subject of an ``oidc:<sub>`` actor."""
    cur.execute(INSERT_SQL, event_row(
        ts, event_type, entity_uri=entity_uri, fact_id=fact_id, source=source,
        attested_key_id=attested_key_id, oidc_sub=oidc_sub, tenant_id=tenant_id, detail=detail,
    ))  # fmt: skip


def event_row(
    ts: str,
    event_type: str,
    *,
    entity_uri: str | None = None,
    fact_id: str | None = None,
    source: str | None = None,
    attested_key_id: str | None = None,
    oidc_sub: str | None = None,
    tenant_id: str = "default",
    detail: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    """The ``INSERT_SQL`` parameters of one event (for callers that batch inserts)."""
    if oidc_sub is None and entity_uri is not None and entity_uri.startswith(OIDC_ENTITY_PREFIX):
        oidc_sub = entity_uri[len(OIDC_ENTITY_PREFIX) :] or None
    return (
        new_time_uuid(), event_type, entity_uri, oidc_sub, fact_id, source, attested_key_id,
        ts, tenant_id, orjson.dumps(detail).decode() if detail is not None else None,
    )  # fmt: skip
