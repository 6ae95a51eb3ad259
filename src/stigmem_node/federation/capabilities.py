"""Capability tokens (wire reference §5.5): an issuer grants a subject a verb on an object.

Token body ``{token_id, token_version: 1, issuer, subject, verb, object, issued_at, expiry,
nonce (64 hex), signature}``; the signature is base64url Ed25519 over the canonical JSON of
every other field, by ``STIGMEM_NODE_PRIVATE_KEY`` or, when that is unset, the node's
federation key (upstream issues unsigned tokens then, which never verify). A token verifies
here when its signature is this node's, it is known here and unrevoked, unexpired, and its
issuer's manifest is stored and valid with the subject among its entities.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from stigmem_node.canonical import canonical_bytes
from stigmem_node.clock import format_ts, parse_ts
from stigmem_node.db import Cursor
from stigmem_node.errors import Conflict, Forbidden, NotFound
from stigmem_node.federation.keys import NodeKeys, verify_signature
from stigmem_node.federation.manifests import get_manifest_txn

MAX_TTL_S = 90 * 86_400
FACTS_OBJECT = "stigmem://facts"


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issuer: str = Field(min_length=1, max_length=2048)
    subject: str = Field(min_length=1, max_length=2048)
    verb: str = Field(min_length=1, max_length=64)
    object: str = Field(min_length=1, max_length=2048)
    ttl_seconds: int = Field(default=3600, ge=1, le=MAX_TTL_S)


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token_json: str = Field(min_length=1, max_length=16_384)


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: str | None = Field(default=None, max_length=1024)


def token_bytes(token: dict[str, Any]) -> bytes:
    return canonical_bytes({k: v for k, v in token.items() if k != "signature"})


def _insert_txn(cur: Cursor, token: dict[str, Any], token_json: str, caller: str) -> None:
    cur.execute(
        "INSERT INTO capability_tokens (token_id, issuer, subject, verb, object, issued_at,"
        " expiry, nonce, token_json, created_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            token["token_id"],
            token["issuer"],
            token["subject"],
            token["verb"],
            token["object"],
            token["issued_at"],
            token["expiry"],
            token["nonce"],
            token_json,
            caller,
        ),
    )


def issue_txn(
    cur: Cursor, keys: NodeKeys, req: IssueRequest, caller: str, now: datetime
) -> dict[str, Any]:
    """Mint and store a token. Raises 403 (issuer is not the caller, subject not in the
    issuer's manifest)."""
    if req.issuer != caller:
        raise Forbidden("issuer must be the caller's entity_uri")
    manifest = get_manifest_txn(cur, req.issuer, format_ts(now))
    if manifest is None or req.subject not in manifest.get("entities", []):
        raise Forbidden("subject is not among the entities of the issuer's manifest")
    token: dict[str, Any] = {
        "token_id": str(uuid.uuid4()),
        "token_version": 1,
        "issuer": req.issuer,
        "subject": req.subject,
        "verb": req.verb,
        "object": req.object,
        "issued_at": format_ts(now),
        "expiry": format_ts(now + timedelta(seconds=req.ttl_seconds)),
        "nonce": secrets.token_hex(32),
    }
    token["signature"] = keys.sign(token_bytes(token))
    token_json = orjson.dumps(token).decode()
    _insert_txn(cur, token, token_json, caller)
    body = {
        k: token[k]
        for k in ("token_id", "issuer", "subject", "verb", "object", "issued_at", "expiry", "nonce")
    }
    return {**body, "token_json": token_json}


@dataclass(frozen=True, slots=True)
class Verified:
    token: dict[str, Any]
    reason: str | None  # None: valid; else token_invalid / token_revoked / token_expired


def verify_txn(cur: Cursor, keys: NodeKeys, token_json: str, now: datetime) -> Verified:
    try:
        token = orjson.loads(token_json)
    except orjson.JSONDecodeError:
        return Verified({}, "token_invalid")
    if not isinstance(token, dict) or not isinstance(token.get("signature"), str):
        return Verified({}, "token_invalid")
    if not verify_signature(keys.pubkey, token["signature"], token_bytes(token)):
        return Verified(token, "token_invalid")
    row = cur.execute(
        "SELECT revoked_at, token_json FROM capability_tokens WHERE token_id = ?",
        (str(token.get("token_id")),),
    ).fetchone()
    if row is None or orjson.loads(row[1]) != token:
        return Verified(token, "token_invalid")
    if row[0] is not None:
        return Verified(token, "token_revoked")
    if parse_ts(str(token["expiry"])) <= now:
        return Verified(token, "token_expired")
    manifest = get_manifest_txn(cur, str(token["issuer"]), format_ts(now))
    if manifest is None or token["subject"] not in manifest.get("entities", []):
        return Verified(token, "token_invalid")
    return Verified(token, None)


def revoke_txn(
    cur: Cursor, token_id: str, caller: str, is_admin: bool, reason: str | None, now: str
) -> dict[str, Any]:
    """Revoke a token (its issuer, its subject, or an admin). Raises 404 / 403 / 409."""
    row = cur.execute(
        "SELECT issuer, subject, revoked_at FROM capability_tokens WHERE token_id = ?",
        (token_id,),
    ).fetchone()
    if row is None:
        raise NotFound("token not found")
    if caller not in (row[0], row[1]) and not is_admin:
        raise Forbidden("only the token's issuer or subject may revoke it")
    if row[2] is not None:
        raise Conflict("token already revoked")
    cur.execute(
        "UPDATE capability_tokens SET revoked_at = ?, revoked_by = ?, revoke_reason = ?"
        " WHERE token_id = ?",
        (now, caller, reason, token_id),
    )
    return {"token_id": token_id, "revoked_at": now, "status": "revoked"}


def push_scopes(token: dict[str, Any]) -> frozenset[str] | None:
    """The scopes a ``write`` token lets its subject push (None: not a facts object)."""
    target = token.get("object")
    if target == FACTS_OBJECT:
        return frozenset({"team", "company", "public"})
    prefix = f"{FACTS_OBJECT}/scope:"
    if isinstance(target, str) and target.startswith(prefix):
        return frozenset({target[len(prefix) :]}) & frozenset({"team", "company", "public"})
    return None
