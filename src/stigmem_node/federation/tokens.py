"""Peer tokens: EdDSA JWTs with millisecond ``iat``/``exp``, as upstream mints them.

The puller mints a fresh token for every request: header ``{"alg":"EdDSA","typ":"JWT"}``,
claims ``{iss: our node_id, sub: the peer's node_id, iat, exp = iat + 3 600 000, nonce:
uuid4, scopes: the peer's declared scopes}``. The receiver checks them in upstream's order and
answers every failure with 401 and upstream's reason string as ``detail``.

Unlike upstream, a token may not live longer than an hour (plus leeway): the nonce cache keeps
a nonce until ``max(exp, now + STIGMEM_FEDERATION_NONCE_WINDOW_S)``, so an unbounded ``exp``
would mean an unbounded replay cache (reference B9).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from stigmem_node.federation.keys import NodeKeys, public_key_from_text

TOKEN_LIFETIME_MS = 3_600_000
MAX_IAT_AGE_MS = 24 * 3_600_000
MAX_TOKEN_CHARS = 8192

# Upstream's 401 reasons (``detail``), in the order the checks run.
PEER_TOKEN_REQUIRED = "peer token required"  # noqa: S105  (a message, not a secret)
MALFORMED = "malformed token"
NOT_REGISTERED = "peer not registered"
NOT_APPROVED = "peer_not_approved"
INVALID_SIGNATURE = "invalid_signature"
INVALID_TOKEN = "invalid_token"  # noqa: S105
EXPIRED = "token_expired"
INVALID_SUB = "invalid_sub"
INVALID_ISS = "invalid_iss"
IAT_IN_FUTURE = "iat_in_future"
IAT_TOO_OLD = "iat_too_old"
NBF_IN_FUTURE = "nbf_in_future"
MISSING_NONCE = "missing_nonce"
NONCE_SEEN = "nonce_already_seen"
LIFETIME_TOO_LONG = "token_lifetime_too_long"  # ours: reference B9


class TokenRejected(Exception):
    """A peer token failed a check; ``reason`` is the 401 ``detail``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PeerClaims:
    iss: str
    sub: str
    iat: int
    exp: int
    nonce: str
    scopes: tuple[str, ...]


def mint_peer_token(
    keys: NodeKeys,
    *,
    iss: str,
    sub: str,
    scopes: list[str],
    now_ms: int,
    nonce: str | None = None,
    lifetime_ms: int = TOKEN_LIFETIME_MS,
) -> str:
    claims = {
        "iss": iss,
        "sub": sub,
        "iat": now_ms,
        "exp": now_ms + lifetime_ms,
        "nonce": nonce or str(uuid.uuid4()),
        "scopes": list(scopes),
    }
    return jwt.encode(claims, keys.private_key, algorithm="EdDSA", headers={"typ": "JWT"})


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims without any check but shape. Raises ``TokenRejected(MALFORMED)``."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected(MALFORMED)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenRejected(MALFORMED) from None
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise TokenRejected(MALFORMED)
    return claims


_NO_REGISTERED_CLAIM_CHECKS = {
    "verify_signature": True,
    "verify_exp": False,  # milliseconds: checked below
    "verify_iat": False,
    "verify_nbf": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


def _ms(claims: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(INVALID_TOKEN)
    return int(value)


def _required_ms(claims: dict[str, Any], name: str) -> int:
    value = _ms(claims, name)
    if value is None:
        raise TokenRejected(INVALID_TOKEN)
    return value


def _check_times(claims: dict[str, Any], exp: int, iat: int, now_ms: int, leeway_ms: int,
                 local_node_id: str, peer_node_id: str) -> None:  # fmt: skip
    """Checks 6–10 in upstream's order (``sub``/``iss`` sit between expiry and ``iat``)."""
    nbf = _ms(claims, "nbf", required=False)
    if now_ms > exp + leeway_ms:
        raise TokenRejected(EXPIRED)
    if claims.get("sub") != local_node_id:
        raise TokenRejected(INVALID_SUB)
    if claims.get("iss") != peer_node_id:
        raise TokenRejected(INVALID_ISS)
    if iat > now_ms + leeway_ms:
        raise TokenRejected(IAT_IN_FUTURE)
    if iat < now_ms - MAX_IAT_AGE_MS:
        raise TokenRejected(IAT_TOO_OLD)
    if nbf is not None and nbf > now_ms + leeway_ms:
        raise TokenRejected(NBF_IN_FUTURE)
    if exp - iat > TOKEN_LIFETIME_MS + leeway_ms:
        raise TokenRejected(LIFETIME_TOO_LONG)


def verify_peer_token(
    token: str,
    *,
    pinned_pubkey: str,
    peer_node_id: str,
    local_node_id: str,
    now_ms: int,
    leeway_ms: int,
) -> PeerClaims:
    """Checks 5–11 of upstream's order (signature … nonce presence). Raises ``TokenRejected``."""
    try:
        key = public_key_from_text(pinned_pubkey)
        claims = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            options=_NO_REGISTERED_CLAIM_CHECKS,  # type: ignore[arg-type]
        )
    except jwt.InvalidSignatureError:
        raise TokenRejected(INVALID_SIGNATURE) from None
    except (jwt.PyJWTError, ValueError):
        raise TokenRejected(INVALID_TOKEN) from None
    exp, iat = _required_ms(claims, "exp"), _required_ms(claims, "iat")
    _check_times(claims, exp, iat, now_ms, leeway_ms, local_node_id, peer_node_id)
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise TokenRejected(MISSING_NONCE)
    if len(nonce) > 256:
        raise TokenRejected(INVALID_TOKEN)
    scopes = claims.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise TokenRejected(INVALID_TOKEN)  # upstream answers 500 here (reference B9)
    return PeerClaims(peer_node_id, local_node_id, iat, exp, nonce, tuple(scopes))


def nonce_expiry_ms(claims: PeerClaims, now_ms: int, window_s: int) -> int:
    """Keep a nonce at least ``window_s`` and at least until the token expires."""
    return max(claims.exp, now_ms + window_s * 1000)
