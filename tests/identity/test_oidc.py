"""``POST /v1/auth/oidc/exchange`` against a real OpenID provider on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from stigmem_node.auth.oidc import KID_REFETCH_S, DiscoveryError, check_url
from stigmem_node.clock import FakeClock, format_ts
from stigmem_node.config import SettingsError, load_settings
from tests.conftest import NodeHarness, start_node
from tests.identity.issuer import DISCOVERY_PATH, JWKS_PATH, Issuer, SigningKey, ec_key, rsa_key
from tests.identity.support import count, events

AUDIENCE = "stigmem-test"
EXCHANGE = "/v1/auth/oidc/exchange"


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {
        "rsa": rsa_key("rsa-1"),
        "ec": ec_key("ec-1"),
        "rsa2": rsa_key("rsa-2"),
        "foreign": rsa_key("rsa-1"),  # same kid as the issuer's key, another key pair
    }


@pytest.fixture
def issuer(keys: dict[str, SigningKey]) -> Iterator[Issuer]:
    with Issuer([keys["rsa"], keys["ec"]]) as running:
        yield running


async def oidc_node(
    tmp_path: Path, issuer_url: str, **overrides: Any
) -> AsyncIterator[NodeHarness]:
    settings: dict[str, Any] = {
        "oidc_enabled": True,
        "oidc_issuer_url": issuer_url,
        "oidc_audience": AUDIENCE,
        "oidc_allow_insecure_issuer": True,
        **overrides,
    }
    async for h in start_node(tmp_path, clock=FakeClock(), **settings):
        yield h


@pytest.fixture
async def node(tmp_path: Path, issuer: Issuer) -> AsyncIterator[NodeHarness]:
    async for h in oidc_node(tmp_path, issuer.url):
        yield h


def claims(node: NodeHarness, issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    assert node.clock is not None
    now = int(node.clock.now().timestamp())
    base = {
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": "alice-123",
        "email": "alice@example.com",
        "iat": now,
        "exp": now + 300,
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


async def exchange(node: NodeHarness, token: str, **body: Any) -> httpx.Response:
    async with node.client(None) as anonymous:
        return await anonymous.post(EXCHANGE, json={"id_token": token, **body})


async def refused(node: NodeHarness, token: str, status: int, detail: str) -> None:
    """The exchange is refused with this status and detail, audited, and writes no key."""
    keys_before = count(node, "api_keys")
    exchanges_before = len(await events(node, "oidc_exchange"))
    response = await exchange(node, token)
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert count(node, "api_keys") == keys_before
    assert len(await events(node, "oidc_exchange")) == exchanges_before
    failures = await events(node, "oidc_exchange_failed")
    assert failures, "a refused exchange is audited"
    assert failures[-1]["detail"]["reason"] == detail


@pytest.mark.parametrize("which", ["rsa", "ec"])
async def test_exchange_mints_a_session_key(
    node: NodeHarness, issuer: Issuer, keys: dict[str, SigningKey], which: str
) -> None:
    assert node.clock is not None
    response = await exchange(node, issuer.mint(claims(node, issuer), keys[which]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["api_key", "entity_uri", "permissions", "expires_at"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["api_key"])
    assert body["entity_uri"] == "oidc:alice-123"
    assert body["permissions"] == ["read", "write"]
    assert body["expires_at"] == format_ts(node.clock.now().replace(hour=8))  # TTL 8 h
    async with node.client(body["api_key"]) as session:
        me = (await session.get("/v1/me")).json()
    assert (me["entity_uri"], me["oidc_sub"]) == ("oidc:alice-123", "alice-123")
    [event] = await events(node, "oidc_exchange")
    assert (event["entity_uri"], event["oidc_sub"]) == ("oidc:alice-123", "alice-123")
    assert event["detail"]["email"] == "alice@example.com"


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (["admin", "write", "federate", "audit.read"], ["write"]),
        (["read"], ["read"]),
        ([], ["read"]),
        (["admin"], ["read"]),
    ],
)
async def test_permissions_are_capped(
    node: NodeHarness, issuer: Issuer, requested: list[str], granted: list[str]
) -> None:
    response = await exchange(node, issuer.mint(claims(node, issuer)), permissions=requested)
    assert response.json()["permissions"] == granted


async def test_earlier_session_keys_are_revoked(node: NodeHarness, issuer: Issuer) -> None:
    first = (await exchange(node, issuer.mint(claims(node, issuer)))).json()["api_key"]
    async with node.client(first) as session:
        assert (await session.get("/v1/me")).status_code == 200
        second = (await exchange(node, issuer.mint(claims(node, issuer)))).json()["api_key"]
        assert (await session.get("/v1/me")).status_code == 401  # at once, despite the cache
    async with node.client(second) as session:
        assert (await session.get("/v1/me")).status_code == 200
    assert count(node, "api_keys", "oidc_sub = 'alice-123'") == 1
    revoked = await events(node, "api_key_revoked")
    assert [e["detail"]["reason"] for e in revoked] == ["new OIDC session"]


async def test_ttl_setting_and_expiry(tmp_path: Path, issuer: Issuer) -> None:
    async for node in oidc_node(tmp_path, issuer.url, oidc_token_ttl_hours=2):
        assert node.clock is not None
        body = (await exchange(node, issuer.mint(claims(node, issuer)))).json()
        assert body["expires_at"] == format_ts(node.clock.now().replace(hour=2))
        async with node.client(body["api_key"]) as session:
            node.clock.advance(2 * 3600 - 1)
            assert (await session.get("/v1/me")).status_code == 200
            node.clock.advance(1)
            response = await session.get("/v1/me")
            assert response.status_code == 401
            assert response.json() == {"detail": "Invalid or expired API key"}


async def test_keys_are_cached_and_rotation_follows_kid(
    node: NodeHarness, issuer: Issuer, keys: dict[str, SigningKey]
) -> None:
    assert node.clock is not None
    for _ in range(3):
        assert (await exchange(node, issuer.mint(claims(node, issuer)))).status_code == 200
    assert issuer.state.hits == {DISCOVERY_PATH: 1, JWKS_PATH: 1}

    issuer.state.keys = [keys["rsa2"]]  # the provider rotates: rsa-1 gone, rsa-2 in
    node.clock.advance(KID_REFETCH_S)
    rotated = issuer.mint(claims(node, issuer), keys["rsa2"])
    assert (await exchange(node, rotated)).status_code == 200  # unknown kid: one refetch
    assert issuer.state.hits[JWKS_PATH] == 2
    await refused(
        node,
        issuer.mint(claims(node, issuer), keys["rsa"]),
        401,
        "id_token invalid: no signing key of the issuer matches kid 'rsa-1'",
    )
    assert issuer.state.hits[JWKS_PATH] == 2  # no refetch storm inside the window

    node.clock.advance(600)  # STIGMEM_OIDC_JWKS_CACHE_S
    assert (await exchange(node, issuer.mint(claims(node, issuer), keys["rsa2"]))).status_code == (
        200
    )
    assert issuer.state.hits[JWKS_PATH] == 3


async def test_unknown_kid(node: NodeHarness, issuer: Issuer, keys: dict[str, SigningKey]) -> None:
    token = issuer.mint(claims(node, issuer), keys["rsa"], kid="nobody")
    await refused(
        node, token, 401, "id_token invalid: no signing key of the issuer matches kid 'nobody'"
    )


async def test_foreign_signature(
    node: NodeHarness, issuer: Issuer, keys: dict[str, SigningKey]
) -> None:
    token = issuer.mint(claims(node, issuer), keys["foreign"])  # kid rsa-1, wrong key pair
    await refused(node, token, 401, "id_token invalid: Signature verification failed")


async def test_tampered_payload(node: NodeHarness, issuer: Issuer) -> None:
    header, _payload, signature = issuer.mint(claims(node, issuer)).split(".")
    forged = jwt.utils.base64url_encode(b'{"sub":"root","aud":"stigmem-test"}').decode()
    await refused(
        node,
        f"{header}.{forged}.{signature}",
        401,
        "id_token invalid: Signature verification failed",
    )


async def test_expired(node: NodeHarness, issuer: Issuer) -> None:
    assert node.clock is not None
    token = issuer.mint(claims(node, issuer))
    node.clock.advance(301)
    await refused(node, token, 401, "id_token expired")


async def test_not_yet_valid(node: NodeHarness, issuer: Issuer) -> None:
    assert node.clock is not None
    later = int(node.clock.now().timestamp()) + 60
    await refused(
        node,
        issuer.mint(claims(node, issuer, nbf=later)),
        401,
        "id_token invalid: The token is not yet valid (nbf)",
    )
    await refused(
        node,
        issuer.mint(claims(node, issuer, iat=later)),
        401,
        "id_token invalid: The token is not yet valid (iat)",
    )


async def test_audience_mismatch(node: NodeHarness, issuer: Issuer) -> None:
    token = issuer.mint(claims(node, issuer, aud="another-client"))
    await refused(node, token, 401, "id_token audience mismatch")


async def test_issuer_mismatch(node: NodeHarness, issuer: Issuer) -> None:
    token = issuer.mint(claims(node, issuer, iss="https://evil.example"))
    await refused(node, token, 401, "id_token invalid: Invalid issuer")


@pytest.mark.parametrize("missing", ["sub", "exp", "aud"])
async def test_required_claims(node: NodeHarness, issuer: Issuer, missing: str) -> None:
    token = issuer.mint(claims(node, issuer, **{missing: None}))
    await refused(node, token, 401, f'id_token invalid: Token is missing the "{missing}" claim')


async def test_oversized_token(node: NodeHarness, issuer: Issuer) -> None:
    token = issuer.mint(claims(node, issuer, padding="x" * 20_000))
    await refused(node, token, 401, "id_token invalid: token is larger than 16384 bytes")
    assert issuer.state.hits == {}  # refused before any fetch


async def test_malformed_token(node: NodeHarness, issuer: Issuer) -> None:
    await refused(node, "not-a-jwt", 401, "id_token invalid: Not enough segments")
    assert issuer.state.hits == {}


async def test_symmetric_and_none_algorithms(node: NodeHarness, issuer: Issuer) -> None:
    body = claims(node, issuer)
    hmac = jwt.encode(body, "a-shared-secret-of-enough-length!", algorithm="HS256")
    await refused(node, hmac, 401, "id_token invalid: algorithm 'HS256' is not allowed")
    unsigned = jwt.encode(body, None, algorithm="none")
    await refused(node, unsigned, 401, "id_token invalid: algorithm 'none' is not allowed")


async def test_algorithm_allow_list(
    tmp_path: Path, issuer: Issuer, keys: dict[str, SigningKey]
) -> None:
    async for node in oidc_node(tmp_path, issuer.url, oidc_id_token_algorithms=["RS256"]):
        token = issuer.mint(claims(node, issuer), keys["ec"])
        await refused(node, token, 401, "id_token invalid: algorithm 'ES256' is not allowed")
        assert (await exchange(node, issuer.mint(claims(node, issuer)))).status_code == 200


async def test_disabled(harness: NodeHarness) -> None:
    await refused(harness, "whatever", 503, "OIDC authentication is not enabled on this node")


@pytest.mark.parametrize(
    "breakage",
    ["status", "foreign_issuer", "garbage_jwks", "empty_jwks", "redirect"],
)
async def test_discovery_failures(node: NodeHarness, issuer: Issuer, breakage: str) -> None:
    state = issuer.state
    if breakage == "status":
        state.discovery_status = 500
    elif breakage == "foreign_issuer":
        state.issuer_override = "https://someone-else.example"
    elif breakage == "garbage_jwks":
        state.jwks_body = b"<html>"
    elif breakage == "empty_jwks":
        state.jwks_body = b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'
    else:
        state.redirect_discovery = True
    await refused(node, issuer.mint(claims(node, issuer)), 503, "OIDC provider discovery failed")


async def test_a_failing_provider_is_not_hammered(node: NodeHarness, issuer: Issuer) -> None:
    assert node.clock is not None
    issuer.state.discovery_status = 500
    token = issuer.mint(claims(node, issuer))
    for _ in range(3):
        assert (await exchange(node, token)).status_code == 503
    assert issuer.state.hits == {DISCOVERY_PATH: 1}
    issuer.state.discovery_status = 200  # the provider recovers
    node.clock.advance(KID_REFETCH_S)
    assert (await exchange(node, issuer.mint(claims(node, issuer)))).status_code == 200
    assert issuer.state.hits == {DISCOVERY_PATH: 2, JWKS_PATH: 1}


async def test_unreachable_issuer(tmp_path: Path, issuer: Issuer) -> None:
    with Issuer([]) as gone:
        url = gone.url
    async for node in oidc_node(tmp_path, url):
        await refused(
            node, issuer.mint(claims(node, issuer, iss=url)), 503, "OIDC provider discovery failed"
        )


@pytest.fixture
async def domains(tmp_path: Path, issuer: Issuer) -> AsyncIterator[NodeHarness]:
    async for h in oidc_node(
        tmp_path, issuer.url, oidc_allowed_domains="example.com, @corp.example"
    ):
        yield h


@pytest.mark.parametrize("email", ["alice@example.com", "Bob@CORP.example"])
async def test_allowed_domains(domains: NodeHarness, issuer: Issuer, email: str) -> None:
    token = issuer.mint(claims(domains, issuer, email=email))
    assert (await exchange(domains, token)).status_code == 200


async def test_refused_domains(domains: NodeHarness, issuer: Issuer) -> None:
    await refused(
        domains,
        issuer.mint(claims(domains, issuer, email="eve@evil.com")),
        403,
        "Email domain 'evil.com' is not permitted",
    )
    await refused(
        domains,
        issuer.mint(claims(domains, issuer, email=None)),
        403,
        "id_token has no email claim; this node admits only allowed domains",
    )
    await refused(
        domains,
        issuer.mint(claims(domains, issuer, email_verified=False)),
        403,
        "Email address is not verified",
    )


async def test_failures_are_coalesced(node: NodeHarness, issuer: Issuer) -> None:
    for _ in range(30):
        assert (await exchange(node, "garbage")).status_code == 401
    rows = await events(node, "oidc_exchange_failed", close_windows=True)
    assert [r["detail"]["occurrences"] for r in rows] == [1, 29]


async def test_loopback_https_issuer_is_refused_without_the_development_flag(
    tmp_path: Path, issuer: Issuer
) -> None:
    port = issuer.url.rsplit(":", 1)[1]
    https_loopback = f"https://127.0.0.1:{port}"
    async for node in oidc_node(tmp_path, https_loopback, oidc_allow_insecure_issuer=False):
        token = issuer.mint(claims(node, issuer, iss=https_loopback))
        await refused(node, token, 503, "OIDC provider discovery failed")
    assert issuer.state.hits == {}  # never contacted


def test_http_issuer_needs_the_development_flag(tmp_path: Path) -> None:
    base = {
        "db_path": tmp_path / "x.db",
        "oidc_enabled": True,
        "oidc_issuer_url": "http://idp.example",
        "oidc_audience": AUDIENCE,
    }
    with pytest.raises(SettingsError, match="OIDC_ALLOW_INSECURE_ISSUER"):
        load_settings(**base)
    assert load_settings(**base, oidc_allow_insecure_issuer=True).oidc_enabled
    with pytest.raises(SettingsError, match="OIDC_ALLOW_INSECURE_ISSUER"):
        load_settings(**{**base, "oidc_audience": ""})
    with pytest.raises(SettingsError, match="OIDC_ID_TOKEN_ALGORITHMS"):
        load_settings(db_path=tmp_path / "x.db", oidc_id_token_algorithms=["HS256"])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://localhost/",
        "https://[::1]/",
        "https://10.1.2.3/",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/",
        "https://0.0.0.0/",
        "http://idp.example/",
        "https://user:pass@idp.example/",
        "ftp://idp.example/",
    ],
)
async def test_url_guard(url: str) -> None:
    with pytest.raises(DiscoveryError):
        await check_url(url, allow_insecure=False)


async def test_url_guard_development_flag() -> None:
    await check_url("http://127.0.0.1:9/", allow_insecure=True)
    with pytest.raises(DiscoveryError):  # still never a non-http scheme
        await check_url("file:///etc/passwd", allow_insecure=True)
