"""Routes for agent keys (attestation) and the OIDC → API-key exchange."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from stigmem_node.deps import CallerDep, NodeDep, json_response

router = APIRouter(tags=["auth"])


class AgentKeyRegisterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    public_key: str = Field(min_length=1, max_length=256, description="base64url raw Ed25519")
    description: str | None = Field(default=None, max_length=1024)


class AgentKeyRecord(BaseModel):
    id: str
    entity_uri: str
    public_key: str
    description: str | None
    registered_at: str
    status: str


class ExchangeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Longer tokens than STIGMEM_OIDC_MAX_TOKEN_BYTES get a 401 (audited) from the verifier;
    # this bound only stops absurd bodies at validation.
    id_token: str = Field(min_length=1, max_length=65_536)
    permissions: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=16)] = [
        "read",
        "write",
    ]


class ExchangeResponse(BaseModel):
    api_key: str
    entity_uri: str
    permissions: list[str]
    expires_at: str


@router.post("/v1/auth/agent-keys", status_code=201, response_model=AgentKeyRecord)
async def register_agent_key(
    node: NodeDep, caller: CallerDep, body: AgentKeyRegisterRequest
) -> Response:
    key = await node.agent_keys.register(caller, body.public_key, body.description)
    return json_response(key.public(), 201)


@router.get("/v1/auth/agent-keys", response_model=list[AgentKeyRecord])
async def list_agent_keys(node: NodeDep, caller: CallerDep) -> Response:
    return json_response([key.public() for key in await node.agent_keys.list_own(caller)])


@router.delete("/v1/auth/agent-keys/{key_id}", status_code=204)
async def revoke_agent_key(node: NodeDep, caller: CallerDep, key_id: str) -> Response:
    await node.agent_keys.revoke(caller, key_id)
    return Response(status_code=204)


@router.post("/v1/auth/oidc/exchange", response_model=ExchangeResponse)
async def oidc_exchange(node: NodeDep, request: Request, body: ExchangeRequest) -> Response:
    client = request.client.host if request.client else "unknown"
    result = await node.oidc.exchange(body.id_token, body.permissions, client)
    return json_response(result)
