"""Agent keys: Ed25519 public keys an entity registers to attest the facts it asserts.

A key belongs to the entity that registered it and is never deleted or changed, except for
one transition, active → revoked (the database refuses anything else). Looked-up keys are
cached in this process for at most ``STIGMEM_API_KEY_CACHE_S`` (like API keys); a revocation
drops the cache entry at once on the revoking process.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stigmem_node.audit.log import record_txn
from stigmem_node.auth.caller import Caller
from stigmem_node.clock import Clock, format_ts
from stigmem_node.db import Cursor, Database
from stigmem_node.errors import BadRequest, Conflict, Forbidden, NotFound

MAX_ACTIVE_KEYS_PER_ENTITY = 100
_B64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
_COLS = "id, entity_uri, public_key, description, registered_at, status"


@dataclass(frozen=True, slots=True)
class AgentKey:
    id: str
    entity_uri: str
    public_key: str
    description: str | None
    registered_at: str
    status: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entity_uri": self.entity_uri,
            "public_key": self.public_key,
            "description": self.description,
            "registered_at": self.registered_at,
            "status": self.status,
        }


def b64url_decode(text: str) -> bytes:
    """Strict base64url (padding optional). Raises ``ValueError``."""
    if not _B64URL.match(text) or len(text.rstrip("=")) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def parse_public_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """The canonical (unpadded) form and the key. Raises ``BadRequest`` with upstream's text."""
    try:
        raw = b64url_decode(text.strip())
    except ValueError:
        raise BadRequest("invalid Ed25519 public key: not base64url") from None
    if len(raw) != 32:
        raise BadRequest(f"invalid Ed25519 public key: expected 32 bytes, got {len(raw)}")
    try:
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise BadRequest(f"invalid Ed25519 public key: {exc}") from None
    return base64.urlsafe_b64encode(raw).decode().rstrip("="), key


@dataclass(slots=True)
class _Cached:
    key: AgentKey
    verifier: Ed25519PublicKey
    until: float


class AgentKeyService:
    def __init__(self, db: Database, clock: Clock, *, cache_s: float) -> None:
        self._db = db
        self._clock = clock
        self._cache_s = cache_s
        self._cache: dict[str, _Cached] = {}

    async def register(self, caller: Caller, public_key: str, description: str | None) -> AgentKey:
        caller.require("write")
        canonical, _ = parse_public_key(public_key)
        key = AgentKey(
            id=str(uuid.uuid4()),
            entity_uri=caller.entity_uri,
            public_key=canonical,
            description=description,
            registered_at=format_ts(self._clock.now()),
            status="active",
        )
        await self._db.write("register_agent_key", _insert_txn, key)
        return key

    async def list_own(self, caller: Caller) -> list[AgentKey]:
        return await self._db.read("list_agent_keys", _list_for_txn, caller.entity_uri)

    async def revoke(self, caller: Caller, key_id: str) -> None:
        """Own keys only (404, 403, 409 as upstream); the database re-checks atomically."""
        now = format_ts(self._clock.now())
        await self._db.write("revoke_agent_key", _revoke_txn, key_id, caller.entity_uri, now)
        self._cache.pop(key_id, None)

    async def lookup(self, key_id: str) -> tuple[AgentKey, Ed25519PublicKey] | None:
        """The key and its verifier, from the short cache or the database."""
        hit = self._cache.get(key_id)
        now = self._clock.monotonic()
        if hit is not None and hit.until > now:
            return hit.key, hit.verifier
        key = await self._db.read("get_agent_key", get_txn, key_id)
        if key is None:
            return None
        _, verifier = parse_public_key(key.public_key)
        if self._cache_s > 0:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key_id] = _Cached(key, verifier, now + self._cache_s)
        return key, verifier


def _row(row: tuple[Any, ...]) -> AgentKey:
    return AgentKey(*row)


def get_txn(cur: Cursor, key_id: str) -> AgentKey | None:
    row = cur.execute(f"SELECT {_COLS} FROM agent_keys WHERE id = ?", (key_id,)).fetchone()
    return _row(row) if row else None


def _list_for_txn(cur: Cursor, entity_uri: str) -> list[AgentKey]:
    rows = cur.execute(
        f"SELECT {_COLS} FROM agent_keys WHERE entity_uri = ? ORDER BY registered_at DESC, id",
        (entity_uri,),
    ).fetchall()
    return [_row(r) for r in rows]


def _insert_txn(cur: Cursor, key: AgentKey) -> None:
    active = cur.execute(
        "SELECT COUNT(*) FROM agent_keys WHERE entity_uri = ? AND status = 'active'",
        (key.entity_uri,),
    ).fetchone()[0]
    if active >= MAX_ACTIVE_KEYS_PER_ENTITY:
        raise Conflict(
            {
                "code": "too_many_agent_keys",
                "message": f"an entity may hold at most {MAX_ACTIVE_KEYS_PER_ENTITY} active"
                " agent keys; revoke one first",
            }
        )
    cur.execute(
        f"INSERT INTO agent_keys ({_COLS}) VALUES (?,?,?,?,?,?)",
        (key.id, key.entity_uri, key.public_key, key.description, key.registered_at, key.status),
    )
    record_txn(
        cur,
        key.registered_at,
        "agent_key_registered",
        entity_uri=key.entity_uri,
        detail={"key_id": key.id, "public_key": key.public_key},
    )


def _revoke_txn(cur: Cursor, key_id: str, actor: str, now: str) -> None:
    key = get_txn(cur, key_id)
    if key is None:
        raise NotFound("agent key not found")
    if key.entity_uri != actor:
        raise Forbidden("cannot revoke another entity's key")
    if key.status == "revoked":
        raise Conflict("key is already revoked")
    cur.execute(
        "UPDATE agent_keys SET status = 'revoked', revoked_at = ? WHERE id = ?", (now, key_id)
    )
    record_txn(cur, now, "agent_key_revoked", entity_uri=actor, detail={"key_id": key_id})
