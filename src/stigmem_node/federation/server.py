"""What this node serves to its peers: the fact pages of ``GET /v1/federation/facts``.

Pages walk the local commit sequence ``facts.seq`` (assigned in commit order by the single
writer), never the HLC, so no fact is skipped whatever the clocks do (reference B2). The
cursor is an opaque string; when a page is the last one, the cursor jumps to the highest
sequence of the read snapshot, so a peer never rescans rows it could not receive.

A page holds only facts that may leave this node for this peer: scope permitted (both
declarations intersected, minus ``local``, minus ``team`` unless allowed), no garden tag (so no
quarantined fact either), no protocol metadata, never a fact received from a peer unless it is
public (relay; ``re_federation_blocked`` marks the others), and never a fact the requesting
peer sent or originated (it has them). Retractions are served like any other fact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.db import Cursor
from stigmem_node.errors import BadRequest
from stigmem_node.facts.hlc import parse_hlc
from stigmem_node.facts.rules import COLUMNS, to_record
from stigmem_node.facts.visibility import shareable_sql

_CURSOR_PREFIX = "s"
FEDERATED_SCOPES = ("team", "company", "public")


def permitted_scopes(
    peer_scopes: Iterable[str], token_scopes: Iterable[str], *, allow_team: bool
) -> frozenset[str]:
    """Both declarations intersected, minus ``local``, minus ``team`` unless allowed."""
    allowed = set(peer_scopes) & set(token_scopes) & set(FEDERATED_SCOPES)
    if not allow_team:
        allowed.discard("team")
    return frozenset(allowed)


def encode_cursor(seq: int) -> str:
    return f"{_CURSOR_PREFIX}{seq}"


def decode_cursor(text: str | None) -> int:
    """0 for no cursor; raises ``BadRequest`` for anything this node did not issue."""
    if not text:
        return 0
    digits = text[len(_CURSOR_PREFIX) :]
    if not text.startswith(_CURSOR_PREFIX) or not digits.isdigit() or len(digits) > 18:
        raise BadRequest({"code": "invalid_cursor", "message": "cursor was not issued here"})
    return int(digits)


@dataclass(frozen=True, slots=True)
class PageRequest:
    peer_node_id: str
    scopes: frozenset[str]
    after_seq: int
    limit: int
    stale_hlc_before_ms: int  # HLCs older than this are served as null (see serve_page_txn)
    narrowed: bool = False  # a ``scope`` filter: the cursor must not skip the other scopes


_PAGE_SQL = (
    f"SELECT {COLUMNS}, 0 FROM facts f"
    " WHERE f.seq > :after AND f.scope IN (SELECT value FROM json_each(:scopes))"
    f" AND {shareable_sql('f')} AND f.reserved = 0 AND f.re_federation_blocked = 0"
    " AND (f.received_from IS NULL OR f.received_from <> :peer)"
    " AND (f.origin_node_id IS NULL OR f.origin_node_id <> :peer)"
    " ORDER BY f.seq LIMIT :limit"
)


def serve_page_txn(cur: Cursor, req: PageRequest) -> dict[str, Any]:
    """``{"facts", "cursor", "has_more"}`` for one page.

    An HLC older than upstream's past-skew bound would make an upstream puller fail on the
    whole page (reference B1a); such facts are served with ``hlc: null``, which upstream
    answers with a local tick and we ignore.
    """
    rows = cur.execute(
        _PAGE_SQL,
        {
            "after": req.after_seq,
            "scopes": orjson.dumps(sorted(req.scopes)).decode(),
            "peer": req.peer_node_id,
            "limit": req.limit + 1,
        },
    ).fetchall()
    has_more = len(rows) > req.limit
    rows = rows[: req.limit]
    facts = []
    for row in rows:
        record = to_record(row)
        if parse_hlc(record["hlc"])[0] < req.stale_hlc_before_ms:
            record["hlc"] = None
        facts.append(record)
    if has_more or (req.narrowed and rows):
        last = int(rows[-1][0])
    elif req.narrowed:
        last = req.after_seq
    else:
        top = cur.execute("SELECT MAX(seq) FROM facts").fetchone()[0]
        last = max(int(top or 0), req.after_seq)
    return {"facts": facts, "cursor": encode_cursor(last), "has_more": has_more}
