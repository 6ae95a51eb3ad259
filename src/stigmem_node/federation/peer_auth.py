"""Authenticating peers on the routes they call, in upstream's order of checks.

1 ``Authorization: Bearer``; 2 decodable; 3 ``iss`` is a registered peer; 4 it is active;
5–11 signature, expiry, ``sub``, ``iss``, ``iat`` window, ``nbf``, nonce present (``tokens``);
12 the nonce is new for this issuer (kept in the database, so a restart forgets nothing);
13 with mutual TLS, the connection's certificate names the issuer as URI SAN (``tls.peer``).
Each failure is 401 with upstream's reason as ``detail`` and is audited: ``rejected_token``
with the reason, ``replay_attempt`` for a reused nonce, ``san_mismatch`` for step 13.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stigmem_node.clock import Clock, format_ts
from stigmem_node.db import Cursor, Database
from stigmem_node.errors import Unauthorized
from stigmem_node.federation import store, tokens
from stigmem_node.federation.store import PeerRow
from stigmem_node.federation.tokens import PeerClaims, TokenRejected
from stigmem_node.tls.peer import SAN_MISMATCH, san_problem

PRUNE_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class AuthenticatedPeer:
    peer: PeerRow
    claims: PeerClaims


def bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(tokens.PEER_TOKEN_REQUIRED)
    return token.strip()


def _audit_rejection_txn(
    cur: Cursor, now: str, event: str, peer_id: str, node_id: str, reason: str
) -> None:
    store.audit_txn(cur, now, event, peer_id, {"reason": reason, "iss": node_id}, node_id=node_id)


class PeerAuthenticator:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        local_node_id: Callable[[], str],
        *,
        leeway_s: int,
        nonce_window_s: int,
    ) -> None:
        self._db = db
        self._clock = clock
        self._local_node_id = local_node_id
        self._leeway_ms = leeway_s * 1000
        self._window_s = nonce_window_s
        self._last_prune = float("-inf")

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def _reject(
        self,
        reason: str,
        peer_id: str,
        node_id: str,
        event: str = "rejected_token",
        audit_reason: str | None = None,
    ) -> Unauthorized:
        now = format_ts(self._clock.now())
        await self._db.write(
            "federation_token_rejected",
            _audit_rejection_txn,
            now,
            event,
            peer_id,
            node_id,
            audit_reason or reason,
        )
        return Unauthorized(reason)

    async def _remember(self, issuer: str, claims: PeerClaims, now_ms: int) -> bool:
        """Record the token's nonce (pruning expired ones now and then); False on a replay."""
        prune = self._clock.monotonic() - self._last_prune > PRUNE_EVERY_S
        if prune:
            self._last_prune = self._clock.monotonic()
        expires = tokens.nonce_expiry_ms(claims, now_ms, self._window_s)
        return bool(await self._db.write("federation_nonce", store.remember_nonce_txn, issuer,
                                         claims.nonce, expires, now_ms, prune))  # fmt: skip

    async def authenticate(self, authorization: str | None) -> AuthenticatedPeer:
        """The peer behind a request's peer token. Raises ``Unauthorized`` (audited)."""
        token = bearer(authorization)
        try:
            iss = str(tokens.unverified_claims(token)["iss"])
        except TokenRejected as exc:
            raise Unauthorized(exc.reason) from None
        peer = await self._db.read("federation_peer", store.get_peer_by_node_id_txn, iss[:256])
        if peer is None:
            raise await self._reject(
                tokens.NOT_REGISTERED, iss[:256], iss[:256], audit_reason="peer_not_found"
            )
        if peer.status != "active":
            raise await self._reject(tokens.NOT_APPROVED, peer.id, peer.node_id)
        now_ms = self._now_ms()
        try:
            claims = tokens.verify_peer_token(
                token,
                pinned_pubkey=peer.federation_pubkey,
                peer_node_id=peer.node_id,
                local_node_id=self._local_node_id(),
                now_ms=now_ms,
                leeway_ms=self._leeway_ms,
            )
        except TokenRejected as exc:
            raise await self._reject(exc.reason, peer.id, peer.node_id) from None
        fresh = await self._remember(peer.node_id, claims, now_ms)
        if not fresh:
            raise await self._reject(tokens.NONCE_SEEN, peer.id, peer.node_id, "replay_attempt")
        if (problem := san_problem(peer.node_id)) is not None:
            raise await self._reject(SAN_MISMATCH, peer.id, peer.node_id, "san_mismatch", problem)
        return AuthenticatedPeer(peer, claims)
