"""API keys: minting, O(1) verification with a short cache, revocation, first-run bootstrap.

A key is found by its SHA-256 digest (an indexed, unique column), then verified once against
its Argon2id hash; the verified caller is cached in this process for at most
``STIGMEM_API_KEY_CACHE_S`` (≤ 60 s). Revocation drops the cache entry at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from stigmem_node.audit.log import record_txn
from stigmem_node.auth import store
from stigmem_node.auth.caller import PERMISSIONS, Caller
from stigmem_node.auth.store import KeyRow
from stigmem_node.clock import Clock, format_ts, parse_ts
from stigmem_node.db import Cursor, Database
from stigmem_node.errors import BadRequest, Conflict, Forbidden, NotFound

log = logging.getLogger("stigmem.auth")

# Upstream's Argon2id parameters (m=19456 KiB, t=2, p=1, 32-byte hash, 16-byte salt).
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)
MINTABLE = frozenset(PERMISSIONS - {"admin:federation"})
BOOTSTRAP_PERMISSIONS = ("admin", "read", "write")
MIN_KEY_LENGTH = 32
MAX_KEY_LENGTH = 512


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def generate_key() -> str:
    """A fresh high-entropy key (48 URL-safe characters)."""
    return secrets.token_urlsafe(36)


@dataclass(slots=True)
class _Cached:
    caller: Caller
    key_expires_at: str | None
    cached_until: float


class KeyService:
    def __init__(self, db: Database, clock: Clock, *, max_age_days: int, cache_s: float) -> None:
        self._db = db
        self._clock = clock
        self._max_age_days = max_age_days
        self._cache_s = cache_s
        self._cache: dict[str, _Cached] = {}
        self._verified: dict[str, str] = {}  # digest -> the Argon2 hash it verified against
        self._inflight: dict[tuple[str, str], asyncio.Future[bool]] = {}

    # -- authentication ------------------------------------------------------------------
    async def authenticate(self, raw_key: str) -> Caller | None:
        """The caller a key belongs to, or None if it is unknown, wrong or expired."""
        if not raw_key or len(raw_key) > MAX_KEY_LENGTH:
            return None
        digest = key_digest(raw_key)
        now = format_ts(self._clock.now())
        hit = self._cache.get(digest)
        if hit is not None and hit.cached_until > self._clock.monotonic():
            if hit.key_expires_at is not None and hit.key_expires_at <= now:
                self._cache.pop(digest, None)
                return None
            return hit.caller
        row = await self._db.read(
            "get_key_by_digest", store.get_key_by_digest_txn, digest, small=True
        )
        expires_at = self._effective_expiry(row) if row is not None else None
        if row is None or (expires_at is not None and expires_at <= now):
            return None
        if not await self._verified_once(digest, row.key_hash, raw_key):
            return None
        if _HASHER.check_needs_rehash(row.key_hash):
            await self._rehash(row, raw_key, now)
        caller = Caller(
            entity_uri=row.entity_uri,
            permissions=frozenset(row.permissions),
            key_id=row.id,
            oidc_sub=row.oidc_sub,
            tenant_id=row.tenant_id,
        )
        if self._cache_s > 0:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[digest] = _Cached(
                caller, expires_at, self._clock.monotonic() + self._cache_s
            )
        return caller

    async def _verified_once(self, digest: str, key_hash: str, raw_key: str) -> bool:
        """Argon2-verify ``raw_key`` against ``key_hash`` at most once per process.

        A digest that verified against this very hash needs no new Argon2 run when its cache
        entry lapses (the row is re-read for revocation and expiry). Concurrent requests with
        the same key share one verification instead of each running Argon2 (19 MiB, tens of
        ms): a cold start or a lapsed cache under load no longer stampedes.
        """
        if self._verified.get(digest) == key_hash:
            return True
        flight_key = (digest, key_hash)
        flight = self._inflight.get(flight_key)
        if flight is None:
            flight = asyncio.ensure_future(asyncio.to_thread(_verify, key_hash, raw_key))
            self._inflight[flight_key] = flight
            flight.add_done_callback(lambda _: self._inflight.pop(flight_key, None))
        ok = await asyncio.shield(flight)
        if ok:
            if len(self._verified) > 100_000:
                self._verified.clear()
            self._verified[digest] = key_hash
        return ok

    async def _rehash(self, row: KeyRow, raw_key: str, now: str) -> None:
        """A verified key hashed with other Argon2 parameters is rehashed with the current ones
        (audited ``api_key_rehashed``); a failure here never fails the request."""
        try:
            new_hash = await asyncio.to_thread(_HASHER.hash, raw_key)
            await self._db.write("rehash_api_key", _rehash_key_txn, row, new_hash, now)
        except Exception:
            log.exception("could not rehash API key %s", row.id)

    def _effective_expiry(self, row: KeyRow) -> str | None:
        """A key's expiry, never later than the maximum key age: lowering
        ``STIGMEM_API_KEY_MAX_AGE_DAYS`` also retires older keys (and keys without expiry)."""
        if self._max_age_days <= 0:
            return row.expires_at
        limit = format_ts(parse_ts(row.created_at) + timedelta(days=self._max_age_days))
        return limit if row.expires_at is None or row.expires_at > limit else row.expires_at

    def forget(self, digest: str | None = None) -> None:
        if digest is None:
            self._cache.clear()
            self._verified.clear()
        else:
            self._cache.pop(digest, None)
            self._verified.pop(digest, None)

    # -- minting -------------------------------------------------------------------------
    def build_key(
        self,
        raw_key: str,
        entity_uri: str,
        permissions: list[str],
        *,
        description: str | None = None,
        expires_at: str | None = None,
        oidc_sub: str | None = None,
        tenant_id: str | None = None,
        allowed: frozenset[str] = MINTABLE,
    ) -> KeyRow:
        """Check a key request and hash it (slow: call in a thread)."""
        unknown = sorted(set(permissions) - allowed)
        if unknown:
            raise BadRequest(f"unknown permission(s): {', '.join(unknown)}")
        if not permissions:
            raise BadRequest("permissions must not be empty")
        now = self._clock.now()
        if expires_at is None and self._max_age_days > 0:
            expires_at = format_ts(now + timedelta(days=self._max_age_days))
        elif expires_at is not None and self._max_age_days > 0:
            limit = format_ts(now + timedelta(days=self._max_age_days))
            if expires_at > limit:
                raise BadRequest(
                    f"expires_at is beyond the maximum key age of {self._max_age_days} days"
                )
        return KeyRow(
            id=str(uuid.uuid4()),
            key_digest=key_digest(raw_key),
            key_hash=_HASHER.hash(raw_key),
            entity_uri=entity_uri,
            permissions=sorted(set(permissions)),
            description=description,
            created_at=format_ts(now),
            expires_at=expires_at,
            oidc_sub=oidc_sub,
            tenant_id=tenant_id or "default",
        )

    async def create_key(self, actor: Caller, key: KeyRow) -> KeyRow:
        await self._db.write("insert_api_key", _insert_key_txn, key, actor.entity_uri)
        return key

    def insert_sync(self, key: KeyRow, actor: str) -> None:
        """Store a built key from synchronous code (start-up, CLI)."""
        self._db.write_sync(_insert_key_txn, key, actor)

    async def revoke_key(self, actor: Caller, key_id: str) -> None:
        row = await self._db.read("get_key", store.get_key_txn, key_id)
        if row is None:
            raise NotFound("Key not found")
        if row.entity_uri != actor.entity_uri:
            raise Forbidden("Cannot revoke another entity's key")
        now = format_ts(self._clock.now())
        await self._db.write("revoke_api_key", _revoke_key_txn, row, actor.entity_uri, now)
        self.forget(row.key_digest)

    # -- first run -----------------------------------------------------------------------
    def bootstrap(self, data_dir: Path, env_key: str) -> Path | None:
        """Register the first admin key when the store has none; return the key file path.

        ``STIGMEM_BOOTSTRAP_KEY`` wins when set (containers); otherwise an existing
        ``admin.key`` is re-registered, or a fresh key is generated and written there (0600).
        """
        if self._db.read_sync(store.count_keys_txn) > 0:
            return None
        path = data_dir / "admin.key"
        generated = False
        if env_key:
            raw = env_key.strip()
            written = None
        elif path.exists() and len(path.read_text().strip()) >= MIN_KEY_LENGTH:
            raw = path.read_text().strip()
            written = path
        else:
            raw = generate_key()
            write_secret(path, raw + "\n")
            written, generated = path, True
        if len(raw) < 16:
            raise ValueError("STIGMEM_BOOTSTRAP_KEY must be at least 16 characters")
        key = self.build_key(
            raw, "agent:admin", list(BOOTSTRAP_PERMISSIONS), description="bootstrap admin key"
        )
        # Several processes may start at once on one database: only the first registers.
        if not self._db.write_sync(_insert_first_key_txn, key, "system:bootstrap"):
            if generated and _read_key(path) == raw:  # what we wrote was never registered
                path.unlink(missing_ok=True)
            return None
        return written


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 from the start (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _verify(key_hash: str, raw_key: str) -> bool:
    try:
        return _HASHER.verify(key_hash, raw_key)
    except (VerificationError, InvalidHashError):
        return False


def _insert_first_key_txn(cur: Cursor, key: KeyRow, actor: str) -> bool:
    """Insert ``key`` only into an empty key store; False when another process was first."""
    if store.count_keys_txn(cur) > 0:
        return False
    _insert_key_txn(cur, key, actor)
    return True


def _insert_key_txn(cur: Cursor, key: KeyRow, actor: str) -> None:
    if store.digest_exists_txn(cur, key.key_digest):
        raise Conflict("raw_key already exists; generate a new key value")
    store.insert_key_txn(cur, key)
    record_txn(
        cur,
        key.created_at,
        "api_key_created",
        entity_uri=actor,
        detail={"key_id": key.id, "for": key.entity_uri, "permissions": key.permissions},
    )


def _rehash_key_txn(cur: Cursor, key: KeyRow, new_hash: str, now: str) -> None:
    if store.replace_hash_txn(cur, key.id, key.key_hash, new_hash):
        record_txn(
            cur,
            now,
            "api_key_rehashed",
            entity_uri=key.entity_uri,
            oidc_sub=key.oidc_sub,
            detail={
                "key_id": key.id,
                "from": "$".join(key.key_hash.split("$")[:4]),
                "to": "$".join(new_hash.split("$")[:4]),
            },
        )


def _revoke_key_txn(cur: Cursor, key: KeyRow, actor: str, now: str) -> None:
    store.delete_key_txn(cur, key.id)
    record_txn(
        cur,
        now,
        "api_key_revoked",
        entity_uri=actor,
        detail={"key_id": key.id, "for": key.entity_uri},
    )
