"""Peer-token checks 5–11 (pure): every upstream 401 reason, and our lifetime bound."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from stigmem_node.federation import tokens
from stigmem_node.federation.keys import NodeKeys
from stigmem_node.federation.tokens import TokenRejected, mint_peer_token, verify_peer_token

PEER_KEYS = NodeKeys.generate()
PEER = "stigmem:node:peer"
LOCAL = "stigmem:node:local"
NOW = 1_800_000_000_000
LEEWAY = 30_000


def _verify(token: str, pinned: str = PEER_KEYS.pubkey) -> tokens.PeerClaims:
    return verify_peer_token(
        token,
        pinned_pubkey=pinned,
        peer_node_id=PEER,
        local_node_id=LOCAL,
        now_ms=NOW,
        leeway_ms=LEEWAY,
    )


def _raw(claims: dict[str, Any], keys: NodeKeys = PEER_KEYS) -> str:
    return jwt.encode(claims, keys.private_key, algorithm="EdDSA", headers={"typ": "JWT"})


def _claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": PEER,
        "sub": LOCAL,
        "iat": NOW,
        "exp": NOW + 3_600_000,
        "nonce": "n-1",
        "scopes": ["public"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_a_fresh_token_verifies() -> None:
    claims = _verify(mint_peer_token(PEER_KEYS, iss=PEER, sub=LOCAL, scopes=["public"], now_ms=NOW))
    assert claims.scopes == ("public",)
    assert claims.exp - claims.iat == 3_600_000


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=NOW - LEEWAY - 1, iat=NOW - 3_600_000), tokens.EXPIRED),
        (_claims(sub="stigmem:node:someone-else"), tokens.INVALID_SUB),
        (_claims(iss="stigmem:node:someone-else"), tokens.INVALID_ISS),
        (_claims(iat=NOW + LEEWAY + 1000, exp=NOW + 3_600_000), tokens.IAT_IN_FUTURE),
        (_claims(iat=NOW - 25 * 3_600_000, exp=NOW + 1000), tokens.IAT_TOO_OLD),
        (_claims(nbf=NOW + LEEWAY + 1000), tokens.NBF_IN_FUTURE),
        (_claims(nonce=None), tokens.MISSING_NONCE),
        (_claims(nonce=""), tokens.MISSING_NONCE),
        (_claims(exp=NOW + 10 * 365 * 86_400_000), tokens.LIFETIME_TOO_LONG),
        (_claims(scopes=[1, 2]), tokens.INVALID_TOKEN),
        (_claims(iat="yesterday"), tokens.INVALID_TOKEN),
        (_claims(exp=None), tokens.INVALID_TOKEN),
    ],
)
def test_each_claim_failure_has_upstreams_reason(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenRejected) as info:
        _verify(_raw(claims))
    assert info.value.reason == reason


def test_signature_by_another_key_is_invalid_signature() -> None:
    with pytest.raises(TokenRejected) as info:
        _verify(_raw(_claims(), NodeKeys.generate()))
    assert info.value.reason == tokens.INVALID_SIGNATURE


def test_other_algorithms_are_invalid_token() -> None:
    forged = jwt.encode(_claims(), "secret-used-as-hmac-key-0123456789abcdef", algorithm="HS256")
    with pytest.raises(TokenRejected) as info:
        _verify(forged)
    assert info.value.reason == tokens.INVALID_TOKEN


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 9000])
def test_undecodable_tokens_are_malformed(token: str) -> None:
    with pytest.raises(TokenRejected) as info:
        tokens.unverified_claims(token)
    assert info.value.reason == tokens.MALFORMED


def test_nonce_kept_for_the_window_or_until_expiry() -> None:
    claims = _verify(mint_peer_token(PEER_KEYS, iss=PEER, sub=LOCAL, scopes=[], now_ms=NOW))
    assert tokens.nonce_expiry_ms(claims, NOW, 300) == NOW + 3_600_000
    assert tokens.nonce_expiry_ms(claims, NOW, 7200) == NOW + 7_200_000
