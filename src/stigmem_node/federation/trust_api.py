"""Routes for organisation manifests and capability tokens (wire reference §1.5, §5.5)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response

from stigmem_node.clock import format_ts, parse_ts
from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.errors import Forbidden, NotFound, Unprocessable
from stigmem_node.federation import capabilities, manifests
from stigmem_node.federation.capabilities import IssueRequest, RevokeRequest, VerifyRequest
from stigmem_node.federation.manifests import Manifest

router = APIRouter(tags=["federation"])

FUTURE_SKEW = timedelta(minutes=5)


@router.put("/v1/federation/manifest")
async def put_manifest(node: NodeDep, caller: CallerDep, body: Manifest) -> Response:
    caller.require("write")
    if body.entity_uri != caller.entity_uri and not caller.has("admin"):
        raise Forbidden("only the entity itself (or an admin) may publish its manifest")
    now = node.clock.now()
    if parse_ts(body.expires_at) <= now:
        raise Unprocessable(
            ["body", "expires_at"], "the manifest has expired", "value_error", body.expires_at
        )
    if parse_ts(body.issued_at) > now + FUTURE_SKEW:
        raise Unprocessable(
            ["body", "issued_at"], "issued_at is in the future", "value_error", body.issued_at
        )
    await node.db.write("manifest_put", manifests.store_manifest_txn, body, caller.entity_uri, now)
    return json_response(
        {
            "entity_uri": body.entity_uri,
            "key_id": body.key_id,
            "issued_at": body.issued_at,
            "expires_at": body.expires_at,
        }
    )


@router.get("/v1/federation/manifest/{entity_uri:path}")
async def get_manifest(node: NodeDep, caller: CallerDep, entity_uri: str) -> Response:
    caller.require("read")
    now = format_ts(node.clock.now())
    manifest = await node.db.read("manifest_get", manifests.get_manifest_txn, entity_uri, now)
    if manifest is None:
        raise NotFound("manifest not found or expired")
    return json_response(manifest)


@router.post("/v1/federation/capability-tokens", status_code=201)
async def issue_token(node: NodeDep, caller: CallerDep, body: IssueRequest) -> Response:
    caller.require("write")
    token = await node.db.write(
        "capability_issue",
        capabilities.issue_txn,
        node.federation.capability_keys,
        body,
        caller.entity_uri,
        node.clock.now(),
    )
    return json_response(token, 201)


@router.post("/v1/federation/capability-tokens/verify")
async def verify_token(node: NodeDep, caller: CallerDep, body: VerifyRequest) -> Response:
    caller.require("read")
    verified = await node.db.read(
        "capability_verify",
        capabilities.verify_txn,
        node.federation.capability_keys,
        body.token_json,
        node.clock.now(),
    )
    if verified.reason is None:
        return json_response({"valid": True})
    return json_response({"valid": False, "reason": verified.reason})


@router.post("/v1/federation/capability-tokens/{token_id}/revoke")
async def revoke_token(
    node: NodeDep, caller: CallerDep, token_id: str, body: RevokeRequest | None = None
) -> Response:
    caller.require("write")
    result = await node.db.write(
        "capability_revoke",
        capabilities.revoke_txn,
        token_id,
        caller.entity_uri,
        caller.has("admin"),
        body.reason if body else None,
        format_ts(node.clock.now()),
    )
    return json_response(result)
