"""Routes for API keys and the caller's identity."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from stigmem_node.auth import store
from stigmem_node.auth.service import MAX_KEY_LENGTH, MIN_KEY_LENGTH, generate_key
from stigmem_node.auth.store import KeyRow
from stigmem_node.clock import format_ts, normalise_ts, parse_ts
from stigmem_node.deps import CallerDep, NodeDep, json_response
from stigmem_node.errors import BadRequest

router = APIRouter(tags=["auth"])


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    raw_key: str | None = Field(
        default=None,
        min_length=MIN_KEY_LENGTH,
        max_length=MAX_KEY_LENGTH,
        description="The key's secret value; omit it and the node generates one.",
    )
    entity_uri: str = Field(min_length=1, max_length=2048)
    permissions: list[str] = Field(default_factory=lambda: ["read", "write"], max_length=16)
    description: str | None = Field(default=None, max_length=1024)
    expires_at: str | None = None
    tenant_id: str | None = Field(default=None, max_length=256)

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_ts(value)
        except ValueError:
            raise ValueError("expires_at must be an ISO 8601 timestamp") from None


class KeyOut(BaseModel):
    id: str
    entity_uri: str
    permissions: list[str]
    description: str | None
    created_at: str
    expires_at: str | None
    tenant_id: str
    raw_key: str | None = None


class MeOut(BaseModel):
    entity_uri: str
    permissions: list[str]
    oidc_sub: str | None
    tenant_id: str


def _public(key: KeyRow, *fields: str) -> dict[str, object]:
    body: dict[str, object] = {
        "id": key.id,
        "entity_uri": key.entity_uri,
        "permissions": sorted(key.permissions),
        "description": key.description,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
    }
    for name in fields:
        body[name] = getattr(key, name)
    return body


@router.post("/v1/auth/keys", status_code=201, response_model=KeyOut)
async def create_key(node: NodeDep, caller: CallerDep, body: CreateKeyRequest) -> Response:
    caller.require("admin", "admin permission required to mint API keys")
    if body.entity_uri.startswith("oidc:"):
        # ``oidc:<sub>`` identities come only from the OIDC exchange: a minted key with such a
        # name would pass for an OIDC session in the audit log.
        raise BadRequest(
            {
                "code": "reserved_entity_uri",
                "message": "oidc: identities are issued only by POST /v1/auth/oidc/exchange",
            }
        )
    raw = body.raw_key or generate_key()
    key = await asyncio.to_thread(
        node.keys.build_key,
        raw,
        body.entity_uri,
        body.permissions,
        description=body.description,
        expires_at=body.expires_at,
        tenant_id=body.tenant_id,
    )
    await node.keys.create_key(caller, key)
    out = _public(key, "tenant_id")
    if body.raw_key is None:
        out["raw_key"] = raw  # shown once: the node keeps only hashes
    return json_response(out, 201)


@router.get("/v1/auth/keys")
async def list_keys(node: NodeDep, caller: CallerDep) -> Response:
    now = format_ts(node.clock.now())
    keys = await node.db.read("list_keys", store.list_keys_for_txn, caller.entity_uri, now)
    return json_response([_public(k, "oidc_sub") for k in keys])


@router.get("/v1/auth/keys/expiring-soon")
async def expiring_soon(
    node: NodeDep,
    caller: CallerDep,
    within_days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> Response:
    caller.require("admin", "admin permission required")
    moment = node.clock.now()
    now, until = format_ts(moment), format_ts(moment + timedelta(days=within_days))
    keys = await node.db.read("expiring_keys", store.list_expiring_txn, now, until)
    out = []
    for key in keys:
        body = _public(key, "oidc_sub", "tenant_id")
        body["days_remaining"] = max(0, (parse_ts(key.expires_at or until) - moment).days)
        out.append(body)
    return json_response(out)


@router.delete("/v1/auth/keys/{key_id}", status_code=204)
async def revoke_key(node: NodeDep, caller: CallerDep, key_id: str) -> Response:
    await node.keys.revoke_key(caller, key_id)
    return Response(status_code=204)


@router.get("/v1/me", response_model=MeOut)
async def me(caller: CallerDep) -> Response:
    return json_response(
        {
            "entity_uri": caller.entity_uri,
            "permissions": sorted(caller.permissions),
            "oidc_sub": caller.oidc_sub,
            "tenant_id": caller.tenant_id,
        }
    )
