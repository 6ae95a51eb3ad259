"""Writing audit events. Callers pass their open cursor so the event commits with the change."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from stigmem_node.db import Cursor


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
    detail: dict[str, Any] | None = None,
) -> None:
    cur.execute(
        "INSERT INTO audit_log (id, event_type, entity_uri, oidc_sub, fact_id, source,"
        " attested_key_id, ts, detail) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            str(uuid.uuid4()), event_type, entity_uri, oidc_sub, fact_id, source,
            attested_key_id, ts, orjson.dumps(detail).decode() if detail is not None else None,
        ),
    )  # fmt: skip
