"""Federation routes: peer management (API keys), the peer-token routes, the audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from stigmem_node.clock import format_ts
from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.errors import BadRequest, Forbidden, NodeError, NotFound, Unauthorized
from stigmem_node.federation import handshake, push_auth, server, store, tokens
from stigmem_node.federation.models import (
    ApproveRequest,
    ApproveResponse,
    AuditPage,
    FactPage,
    PeerList,
    PeerOut,
    PushRequest,
    PushResponse,
    RegisterPeerRequest,
    RegisterPeerResponse,
    Scope,
)
from stigmem_node.federation.peer_auth import AuthenticatedPeer
from stigmem_node.federation.puller import ingest_facts
from stigmem_node.federation.push_auth import PushSender
from stigmem_node.federation.trust_api import router as trust_router

if TYPE_CHECKING:
    from stigmem_node.node import Node

router = APIRouter(tags=["federation"])

ADMIN_FEDERATION = "admin:federation required"
PUSH_DISABLED = "push replication not enabled on this node"
FEDERATION_DISABLED = {
    "code": "federation_disabled",
    "message": "federation is not enabled on this node",
}
PEER_TOKEN_PATHS = frozenset(
    {"/v1/federation/facts", "/v1/federation/facts/push"}
)  # authenticated by peer tokens, not API keys (app.AUTH_EXEMPT)


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def _pull_peer(request: Request) -> AuthenticatedPeer:
    node = _node(request)
    authorization = request.headers.get("authorization")
    if not authorization:
        raise Unauthorized(tokens.PEER_TOKEN_REQUIRED)
    if not node.settings.federation_enabled:
        raise Forbidden(FEDERATION_DISABLED)
    return await node.federation.peer_auth.authenticate(authorization)


async def _push_sender(request: Request) -> PushSender:
    node = _node(request)
    authorization = request.headers.get("authorization")
    capability = request.headers.get("x-stigmem-capability")
    if not authorization and not capability and node.settings.auth_required:
        raise Unauthorized(push_auth.CREDENTIALS_REQUIRED)
    if not node.settings.federation_push_enabled:
        raise NodeError(PUSH_DISABLED, status=405)
    if not node.settings.federation_enabled:
        raise Forbidden(FEDERATION_DISABLED)
    return await push_auth.resolve(node.federation, authorization, capability)


PullPeerDep = Annotated[AuthenticatedPeer, Depends(_pull_peer)]
PushSenderDep = Annotated[PushSender, Depends(_push_sender)]


# -- peer management -------------------------------------------------------------------------
@router.get("/v1/federation/peers", response_model=PeerList)
async def list_peers(node: NodeDep, caller: CallerDep) -> Response:
    caller.require("federate")
    peers = await node.db.read("federation_peers", store.list_peers_txn, None)
    return json_response({"peers": [peer.to_wire() for peer in peers]})


@router.post("/v1/federation/peers", status_code=201, response_model=RegisterPeerResponse)
async def register_peer(node: NodeDep, caller: CallerDep, body: RegisterPeerRequest) -> Response:
    caller.require("federate")
    result = await node.federation.handshake.register(body, caller.entity_uri)
    return json_response(result, 201)


@router.get("/v1/federation/peers/{peer_id}", response_model=PeerOut)
async def get_peer(node: NodeDep, caller: CallerDep, peer_id: str) -> Response:
    """One peer, with its replication state in each direction (ours, for operators)."""
    caller.require("federate")
    peer = await node.db.read("federation_peer", store.get_peer_txn, peer_id)
    if peer is None:
        raise NotFound("peer not found")
    body = peer.to_wire()
    body["status_reason"] = peer.status_reason
    body["replication"] = {}
    for direction in ("inbound", "outbound"):
        state = await node.db.read("federation_state", store.get_state_txn, peer.id, direction)
        body["replication"][direction] = {
            "cursor": state.cursor,
            "failures": state.failures,
            "retry_at": state.retry_at,
            "last_error": state.last_error,
        }
    return json_response(body)


@router.post("/v1/federation/peers/{peer_id}/approve", response_model=ApproveResponse)
async def approve_peer(
    node: NodeDep, caller: CallerDep, peer_id: str, body: ApproveRequest
) -> Response:
    caller.require("admin:federation", ADMIN_FEDERATION)
    now = format_ts(node.clock.now())
    outcome = await node.db.write(
        "federation_approve",
        handshake.approve_txn,
        peer_id,
        body.pubkey_fingerprint,
        caller.entity_uri,
        now,
        node.settings.federation_push_enabled,
    )
    peer = handshake.raise_for_approval(outcome)
    node.federation.peers_changed()
    return json_response(
        {"peer_id": peer.id, "node_id": peer.node_id, "status": peer.status, "approved_at": now}
    )


@router.delete("/v1/federation/peers/{peer_id}")
async def remove_peer(node: NodeDep, caller: CallerDep, peer_id: str) -> Response:
    caller.require("admin:federation", ADMIN_FEDERATION)
    now = format_ts(node.clock.now())
    peer = await node.db.write(
        "federation_remove", handshake.remove_txn, peer_id, caller.entity_uri, now
    )
    if peer is None:
        raise NotFound("peer not found")
    node.federation.peers_changed()
    return json_response({"peer_id": peer.id, "node_id": peer.node_id, "status": "removed"})


# -- peer-token routes -----------------------------------------------------------------------
@router.get("/v1/federation/facts", response_model=FactPage)
async def pull_facts(
    node: NodeDep,
    auth: PullPeerDep,
    scope: Scope | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    federation = node.federation
    permitted = server.permitted_scopes(
        auth.peer.allowed_scopes, auth.claims.scopes, allow_team=node.settings.federation_allow_team
    )
    if not permitted:
        raise Forbidden("no permitted scopes")
    if scope is not None and scope not in permitted:
        await federation.audit_scope_violation(auth.peer, scope, permitted)
        raise Forbidden("scope not permitted for this peer")
    after = server.decode_cursor(cursor)
    with federation.gate.enter(auth.peer.id, "pull"):
        request = server.PageRequest(
            auth.peer.node_id,
            frozenset({scope}) if scope else permitted,
            after,
            limit,
            federation.stale_hlc_before_ms(),
            narrowed=scope is not None,
        )
        page = await node.db.read("federation_page", server.serve_page_txn, request)
    federation.metrics.served.inc(len(page["facts"]))
    team = sum(1 for fact in page["facts"] if fact["scope"] == "team")
    if team:  # team facts crossing the boundary are audit-logged (STIGMEM_FEDERATION_ALLOW_TEAM)
        await federation.audit_team_served(auth.peer, team, page["cursor"])
    return json_response(page)


async def _push(node: Node, sender: PushSender, body: PushRequest) -> Response:
    federation = node.federation
    with federation.gate.enter(sender.peer.id, "push"):
        result = await ingest_facts(
            federation.context(),
            sender.peer,
            body.facts,
            "push",
            None,
            sender.scopes,
            sender.required_source,
        )
    errors = [{"fact_id": r.fact_id, "error": r.reason} for r in result.rejections]
    accepted = len(result.accepted) + result.duplicates
    return json_response({"accepted": accepted, "rejected": len(errors), "errors": errors}, 202)


@router.post("/v1/federation/facts/push", status_code=202, response_model=PushResponse)
async def push_facts(node: NodeDep, sender: PushSenderDep, body: PushRequest) -> Response:
    return await _push(node, sender, body)


@router.post("/v1/federation/facts", status_code=202, response_model=PushResponse)
async def push_facts_alias(node: NodeDep, sender: PushSenderDep, body: PushRequest) -> Response:
    """Alias of the push route (CONTRACT §10)."""
    return await _push(node, sender, body)


# -- audit -----------------------------------------------------------------------------------
_AUDIT_PREFIX = "a"


@router.get("/v1/federation/audit", response_model=AuditPage)
async def federation_audit(
    node: NodeDep,
    caller: CallerDep,
    peer_id: Annotated[str | None, Query(max_length=256)] = None,
    event_type: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    caller.require("federate")
    before = None
    if cursor:
        digits = cursor[len(_AUDIT_PREFIX) :]
        if not cursor.startswith(_AUDIT_PREFIX) or not digits.isdigit() or len(digits) > 18:
            raise BadRequest({"code": "invalid_cursor", "message": "cursor was not issued here"})
        before = int(digits)
    entries, next_seq = await node.db.read(
        "federation_audit", store.list_audit_txn, peer_id, event_type, before, limit
    )
    next_cursor = f"{_AUDIT_PREFIX}{next_seq}" if next_seq is not None else None
    return json_response(
        {"entries": entries, "cursor": next_cursor, "has_more": next_seq is not None}
    )


router.include_router(trust_router)
