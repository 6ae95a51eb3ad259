"""The OIDC → API-key bridge: ``POST /v1/auth/oidc/exchange`` (unauthenticated).

A verified ID token (``auth.oidc``) buys a session API key for ``oidc:<sub>``:
permissions are the requested ones capped to ``read``/``write`` (``["read"]`` if none remain),
expiry is now + ``STIGMEM_OIDC_TOKEN_TTL_HOURS`` (never beyond the key max age), and every
earlier key of the same subject is revoked in the same transaction that stores the new one.

Allowed e-mail domains (``STIGMEM_OIDC_ALLOWED_DOMAINS``): when set, the token must carry an
``email`` in one of them (403 ``"Email domain '<d>' is not permitted"``), and an ``email``
explicitly marked unverified is refused. Unlike upstream, a token *without* an e-mail is refused
too when domains are configured: otherwise the restriction would be bypassed by leaving it out.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from stigmem_node.audit.log import OIDC_ENTITY_PREFIX, record_txn
from stigmem_node.audit.security import SecurityAudit
from stigmem_node.auth import store
from stigmem_node.auth.oidc import OidcVerifier
from stigmem_node.auth.service import KeyService
from stigmem_node.auth.store import KeyRow
from stigmem_node.clock import Clock, format_ts
from stigmem_node.db import Cursor, Database
from stigmem_node.errors import Forbidden, NodeError, Unavailable

DISABLED = "OIDC authentication is not enabled on this node"
SESSION_PERMISSIONS = frozenset({"read", "write"})


def parse_domains(setting: str) -> frozenset[str]:
    return frozenset(
        d.strip().lstrip("@").lower() for d in setting.split(",") if d.strip().lstrip("@")
    )


class OidcExchange:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        keys: KeyService,
        audit: SecurityAudit,
        verifier: OidcVerifier | None,
        *,
        ttl_hours: float,
        max_age_days: int,
        allowed_domains: frozenset[str],
    ) -> None:
        self._db = db
        self._clock = clock
        self._keys = keys
        self._audit = audit
        self.verifier = verifier
        self._ttl = timedelta(hours=ttl_hours)
        self._max_age = timedelta(days=max_age_days) if max_age_days > 0 else None
        self._domains = allowed_domains

    async def exchange(self, id_token: str, requested: list[str], client: str) -> dict[str, Any]:
        """Mint a session key for a verified token. Raises 503, 401 or 403 (all audited)."""
        try:
            if self.verifier is None:
                raise Unavailable(DISABLED)
            claims = await self.verifier.verify(id_token)
            self._check_email(claims)
        except NodeError as exc:
            self._audit.record(
                "oidc_exchange_failed",
                (client, str(exc.detail)[:200]),
                detail={"reason": exc.detail, "client": client},
            )
            raise
        sub: str = claims["sub"]
        permissions = sorted(SESSION_PERMISSIONS.intersection(requested)) or ["read"]
        now = self._clock.now()
        lifetime = self._ttl if self._max_age is None else min(self._ttl, self._max_age)
        raw = uuid.uuid4().hex  # upstream's session key form: 32 lowercase hex digits
        key = await asyncio.to_thread(
            self._keys.build_key,
            raw,
            f"{OIDC_ENTITY_PREFIX}{sub}",
            permissions,
            description="OIDC session key",
            expires_at=format_ts(now + lifetime),
            oidc_sub=sub,
        )
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        revoked = await self._db.write("oidc_exchange", _exchange_txn, key, email, client)
        for digest in revoked:
            self._keys.forget(digest)
        return {
            "api_key": raw,
            "entity_uri": key.entity_uri,
            "permissions": permissions,
            "expires_at": key.expires_at,
        }

    def _check_email(self, claims: dict[str, Any]) -> None:
        if not self._domains:
            return
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise Forbidden("id_token has no email claim; this node admits only allowed domains")
        domain = email.rsplit("@", 1)[1].lower()
        if domain not in self._domains:
            raise Forbidden(f"Email domain '{domain}' is not permitted")
        if claims.get("email_verified") is False:
            raise Forbidden("Email address is not verified")


def _exchange_txn(cur: Cursor, key: KeyRow, email: str | None, client: str) -> list[str]:
    """Revoke the subject's earlier keys, store the new one; return the revoked digests."""
    earlier = cur.execute(
        "SELECT id, key_digest FROM api_keys WHERE oidc_sub = ?", (key.oidc_sub,)
    ).fetchall()
    for key_id, _ in earlier:
        store.delete_key_txn(cur, key_id)
        record_txn(
            cur,
            key.created_at,
            "api_key_revoked",
            entity_uri=key.entity_uri,
            detail={"key_id": key_id, "for": key.entity_uri, "reason": "new OIDC session"},
        )
    store.insert_key_txn(cur, key)
    record_txn(
        cur,
        key.created_at,
        "oidc_exchange",
        entity_uri=key.entity_uri,
        oidc_sub=key.oidc_sub,
        detail={
            "key_id": key.id,
            "permissions": key.permissions,
            "expires_at": key.expires_at,
            "email": email,
            "revoked_key_ids": [key_id for key_id, _ in earlier],
            "client": client,
        },
    )
    return [digest for _, digest in earlier]
