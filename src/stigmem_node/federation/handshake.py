"""Peer registration, verification, approval and removal.

Registration (``POST /v1/federation/peers``) records the declaration as
``pending_verification``, then verifies it outside any transaction: ``signed_at`` within
``STIGMEM_FEDERATION_DECLARATION_MAX_AGE_S``, the signature under the declared key, and the
peer's own well-known document (guarded fetch) naming the same ``node_id`` and key. Success is
``pending_approval``; any failure is ``rejected`` with the reason audited — still 201, the shape
upstream clients expect. An operator then approves with the key's ``sha256:`` fingerprint
(``admin:federation``), and the peer becomes ``active``.

Unlike upstream (reference B7): a rejected or revoked peer may register again, a registration
stuck in ``pending_verification`` (a crash mid-check) is replaceable after a grace period, and
a peer can be removed.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from stigmem_node.clock import Clock, format_ts, parse_ts
from stigmem_node.db import Cursor, Database
from stigmem_node.errors import BadRequest, Conflict, NotFound
from stigmem_node.federation import store
from stigmem_node.federation.client import PeerClient, PeerError
from stigmem_node.federation.declarations import Declaration
from stigmem_node.federation.keys import b64url_decode, fingerprint
from stigmem_node.federation.models import RegisterPeerRequest
from stigmem_node.federation.pusher import start_cursor_txn
from stigmem_node.federation.store import PeerRow

REPLACEABLE = ("rejected", "revoked")
STALE_VERIFICATION_S = 120
FUTURE_SKEW_S = 300


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    reason: str | None = None


def _reserve_txn(cur: Cursor, peer: PeerRow, registered_by: str, now: str, stale: str) -> None:
    """Insert the pending row, replacing a rejected/revoked/stale one. Raises ``Conflict``."""
    existing = store.get_peer_by_node_id_txn(cur, peer.node_id)
    if existing is not None:
        stuck = existing.status == "pending_verification" and existing.created_at < stale
        if existing.status not in REPLACEABLE and not stuck:
            raise Conflict(f"peer already registered (status={existing.status})")
        store.delete_peer_txn(cur, existing.id)
        store.audit_txn(
            cur,
            now,
            "peer_replaced",
            existing.id,
            {"node_id": existing.node_id, "previous_status": existing.status},
            node_id=existing.node_id,
        )
    store.insert_peer_txn(cur, peer, registered_by)
    store.audit_txn(
        cur,
        now,
        "peer_registered",
        peer.id,
        {
            "node_id": peer.node_id,
            "node_url": peer.node_url,
            "allowed_scopes": list(peer.allowed_scopes),
            "registered_by": registered_by,
        },
        node_id=peer.node_id,
    )


def _settle_txn(cur: Cursor, peer: PeerRow, verdict: Verdict, now: str) -> bool:
    moved = store.set_peer_status_txn(
        cur, peer.id, verdict.status, expect="pending_verification", reason=verdict.reason
    )
    if moved:
        event = "peer_verified" if verdict.status == "pending_approval" else "peer_rejected"
        detail: dict[str, Any] = {"node_id": peer.node_id, "status": verdict.status}
        if verdict.reason:
            detail["reason"] = verdict.reason
        store.audit_txn(cur, now, event, peer.id, detail, node_id=peer.node_id)
    return moved


def approve_txn(
    cur: Cursor, peer_id: str, given: str, approved_by: str, now: str, push: bool = False
) -> PeerRow | str:
    """Activate a pending peer whose key has fingerprint ``given``; the peer, or the error
    (``"not_found"`` / ``"status=<s>"`` / ``"mismatch"``, audited) for the caller to raise.
    The mismatch audit must commit, so this returns instead of raising. With ``push`` (push
    enabled here), the peer's outbound cursor starts now, so what commits next is pushed."""
    peer = store.get_peer_txn(cur, peer_id)
    if peer is None:
        return "not_found"
    if peer.status != "pending_approval":
        return f"status={peer.status}"
    if not hmac.compare_digest(fingerprint(peer.federation_pubkey).encode(), given.encode()):
        store.audit_txn(
            cur,
            now,
            "peer_approval_failed",
            peer.id,
            {
                "node_id": peer.node_id,
                "reason": "fingerprint mismatch",
                "attempted_by": approved_by,
            },
            node_id=peer.node_id,
        )
        return "mismatch"
    store.set_peer_status_txn(cur, peer.id, "active", established_at=now)
    if push:
        start_cursor_txn(cur, peer.id, now)
    store.audit_txn(
        cur,
        now,
        "peer_approved",
        peer.id,
        {"node_id": peer.node_id, "approved_by": approved_by},
        node_id=peer.node_id,
    )
    return store.get_peer_txn(cur, peer.id) or peer


def raise_for_approval(outcome: PeerRow | str) -> PeerRow:
    if outcome == "not_found":
        raise NotFound("peer not found")
    if outcome == "mismatch":
        raise BadRequest("fingerprint mismatch")
    if isinstance(outcome, str):
        raise Conflict(f"peer is not pending approval ({outcome})")
    return outcome


def remove_txn(cur: Cursor, peer_id: str, removed_by: str, now: str) -> PeerRow | None:
    peer = store.get_peer_txn(cur, peer_id)
    if peer is None:
        return None
    store.delete_peer_txn(cur, peer.id)
    store.audit_txn(
        cur,
        now,
        "peer_removed",
        peer.id,
        {"node_id": peer.node_id, "status": peer.status, "removed_by": removed_by},
        node_id=peer.node_id,
    )
    return peer


class Handshake:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        client: Callable[[], PeerClient],
        local_node_id: Callable[[], str],
        max_age_s: int,
    ) -> None:
        self._db = db
        self._clock = clock
        self._client = client
        self._local_node_id = local_node_id
        self._max_age_s = max_age_s

    async def register(self, req: RegisterPeerRequest, registered_by: str) -> dict[str, Any]:
        """Record, verify and settle one declaration; the 201 body. Raises ``Conflict``."""
        if req.node_id == self._local_node_id():
            raise BadRequest(
                {"code": "self_registration", "message": "a node cannot register itself as a peer"}
            )
        moment = self._clock.now()
        now = format_ts(moment)
        declaration = Declaration(
            req.node_id,
            req.node_url,
            req.federation_pubkey,
            list(req.allowed_scopes),
            req.signed_at,
            req.declaration_sig,
        )
        peer = PeerRow(
            str(uuid.uuid4()),
            req.node_id,
            req.node_url.rstrip("/"),
            req.federation_pubkey,
            tuple(sorted(set(req.allowed_scopes))),
            "pending_verification",
            None,
            None,
            req.declaration_sig,
            req.signed_at,
            now,
        )
        stale = format_ts(moment - timedelta(seconds=STALE_VERIFICATION_S))
        await self._db.write("federation_register", _reserve_txn, peer, registered_by, now, stale)
        verdict = await self._verify(declaration)
        settled = await self._db.write(
            "federation_settle", _settle_txn, peer, verdict, format_ts(self._clock.now())
        )
        if not settled:  # removed or replaced meanwhile
            raise Conflict("peer registration changed while it was being verified")
        verified_at = now if verdict.status == "pending_approval" else None
        return {"peer_id": peer.id, "status": verdict.status, "verified_at": verified_at}

    async def _verify(self, declaration: Declaration) -> Verdict:
        reason = self._check_signed_at(declaration.signed_at)
        if reason is None and not declaration.verify(declaration.federation_pubkey):
            reason = "invalid declaration signature"
        if reason is None:
            reason = await self._check_well_known(declaration)
        return Verdict("rejected", reason) if reason else Verdict("pending_approval")

    def _check_signed_at(self, signed_at: str) -> str | None:
        try:
            moment = parse_ts(signed_at)
        except ValueError:
            return "signed_at is not an ISO 8601 timestamp"
        age = (self._clock.now() - moment).total_seconds()
        if age > self._max_age_s:
            return f"declaration signed more than {self._max_age_s}s ago"
        if age < -FUTURE_SKEW_S:
            return "declaration signed in the future"
        return None

    async def _check_well_known(self, declaration: Declaration) -> str | None:
        try:
            doc = await self._client().fetch_well_known(
                declaration.node_url.rstrip("/"), peer_node_id=declaration.node_id
            )
        except PeerError as exc:
            return f"well-known document unavailable: {exc}"
        if doc.get("node_id") != declaration.node_id:
            return "node_id differs from the peer's well-known document"
        advertised = doc.get("federation_pubkey")
        try:
            same = isinstance(advertised, str) and b64url_decode(advertised) == b64url_decode(
                declaration.federation_pubkey
            )
        except ValueError:
            same = False
        if not same:
            return "federation_pubkey differs from the peer's well-known document"
        return None
