"""OIDC ID-token verification against the configured issuer (discovery + JWKS, cached).

* The issuer's discovery document and its ``jwks_uri`` are fetched over HTTP(S) with a
  timeout, no redirects and a size cap, and only from https URLs whose host resolves to public
  addresses (SSRF guard), unless ``STIGMEM_OIDC_ALLOW_INSECURE_ISSUER`` (development only).
  The document's ``issuer`` must equal the configured issuer (OIDC Discovery §4.3).
* Keys are cached for ``STIGMEM_OIDC_JWKS_CACHE_S`` and chosen by the token's ``kid``. An
  unknown ``kid`` triggers one refetch (key rotation), at most once per ``KID_REFETCH_S`` so
  random ``kid`` values cannot turn into a fetch storm; after a failed fetch, requests get 503
  without a new fetch for ``KID_REFETCH_S``.
* Verification: algorithm in ``STIGMEM_OIDC_ID_TOKEN_ALGORITHMS`` (and equal to the key's own
  ``alg`` when it declares one), signature, ``iss`` exact, ``aud``; ``exp``/``nbf``/``iat`` are
  checked against the node's clock (so tests move time instead of sleeping).

Discovery/JWKS failures are 503 ``"OIDC provider discovery failed"``; token failures are 401
with upstream's texts (``"id_token expired"``, ``"id_token audience mismatch"``,
``"id_token invalid: <why>"``). The residual DNS-rebinding window between the address check and
the connection is accepted: the issuer is operator-configured, not caller-supplied.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import orjson

from stigmem_node.clock import Clock
from stigmem_node.config import Settings
from stigmem_node.errors import Unauthorized, Unavailable

log = logging.getLogger("stigmem.oidc")

DISCOVERY_FAILED = "OIDC provider discovery failed"
EXPIRED = "id_token expired"
AUDIENCE_MISMATCH = "id_token audience mismatch"
KID_REFETCH_S = 5.0
MAX_DOCUMENT_BYTES = 512 * 1024


class DiscoveryError(Exception):
    """The issuer's discovery document or key set could not be fetched or is unusable."""


def invalid(why: str) -> Unauthorized:
    return Unauthorized(f"id_token invalid: {why}")


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    allow_insecure: bool
    jwks_cache_s: float
    timeout_s: float
    max_token_bytes: int
    leeway_s: int


def oidc_config(settings: Settings) -> OidcConfig:
    return OidcConfig(
        issuer=settings.oidc_issuer_url,
        audience=settings.oidc_audience,
        algorithms=tuple(settings.oidc_id_token_algorithms),
        allow_insecure=settings.oidc_allow_insecure_issuer,
        jwks_cache_s=settings.oidc_jwks_cache_s,
        timeout_s=settings.oidc_http_timeout_s,
        max_token_bytes=settings.oidc_max_token_bytes,
        leeway_s=settings.oidc_leeway_s,
    )


@dataclass(frozen=True, slots=True)
class _Key:
    jwk: jwt.PyJWK
    alg: str | None  # the algorithm the JWK itself declares, if any


@dataclass(slots=True)
class _KeySet:
    keys: dict[str, _Key] = field(default_factory=dict)
    fetched_at: float | None = None


async def check_url(url: str, *, allow_insecure: bool) -> None:
    """Refuse URLs the node must not fetch. Raises ``DiscoveryError``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DiscoveryError(f"not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise DiscoveryError("URLs with credentials are refused")
    if allow_insecure:
        return
    if parts.scheme != "https":
        raise DiscoveryError(f"issuer URLs must be https: {url!r}")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise DiscoveryError(f"cannot resolve {parts.hostname!r}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        for ip in (address, mapped) if mapped else (address,):
            if not ip.is_global or ip.is_multicast:
                raise DiscoveryError(f"{parts.hostname!r} resolves to a non-public address")


class OidcVerifier:
    def __init__(self, config: OidcConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._keyset = _KeySet()
        self._lock = asyncio.Lock()
        self._last_fetch_try: float | None = None
        self._failed_at: float | None = None

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's verified claims. Raises ``Unauthorized`` (401) or ``Unavailable`` (503)."""
        if len(token.encode("utf-8", "surrogatepass")) > self.config.max_token_bytes:
            raise invalid(f"token is larger than {self.config.max_token_bytes} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise invalid(str(exc)) from None
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise invalid(f"algorithm {alg!r} is not allowed")
        key = await self._key_for(header.get("kid"))
        if key.alg is not None and key.alg != alg:
            raise invalid(f"the signing key is for {key.alg!r}, not {alg!r}")
        claims = self._decode(token, key.jwk, alg)
        self._check_times(claims)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > 255:
            raise invalid('Token is missing the "sub" claim')
        return claims

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                options={
                    "verify_exp": False,  # checked against the node's clock below
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "iss", "aud", "sub"],
                },
            )
        except jwt.InvalidAudienceError:
            raise Unauthorized(AUDIENCE_MISMATCH) from None
        except jwt.PyJWTError as exc:
            raise invalid(str(exc)) from None
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock.now().timestamp()
        leeway = self.config.leeway_s
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise invalid(f"{name} claim must be a number")
        if now > claims["exp"] + leeway:
            raise Unauthorized(EXPIRED)
        if "nbf" in claims and now + leeway < claims["nbf"]:
            raise invalid("The token is not yet valid (nbf)")
        if "iat" in claims and now + leeway < claims["iat"]:
            raise invalid("The token is not yet valid (iat)")

    # -- keys ----------------------------------------------------------------------------
    async def _key_for(self, kid: Any) -> _Key:
        if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
            raise invalid("kid must be a short string")
        keyset = await self._current_keys()
        key = self._pick(keyset, kid)
        if key is None and self._may_refetch():
            keyset = await self._current_keys(force=True)
            key = self._pick(keyset, kid)
        if key is None:
            if kid is None:
                raise invalid("the token names no kid and the issuer has several keys")
            raise invalid(f"no signing key of the issuer matches kid {kid!r}")
        return key

    @staticmethod
    def _pick(keyset: _KeySet, kid: str | None) -> _Key | None:
        if kid is None:
            return next(iter(keyset.keys.values())) if len(keyset.keys) == 1 else None
        return keyset.keys.get(kid)

    def _may_refetch(self) -> bool:
        last = self._last_fetch_try
        return last is None or self._clock.monotonic() - last >= KID_REFETCH_S

    async def _current_keys(self, *, force: bool = False) -> _KeySet:
        async with self._lock:
            now = self._clock.monotonic()
            cached = self._keyset
            fresh = cached.fetched_at is not None and now - cached.fetched_at < (
                self.config.jwks_cache_s
            )
            if fresh and not force:
                return cached
            if force and not self._may_refetch():
                return cached
            if self._failed_at is not None and now - self._failed_at < KID_REFETCH_S:
                raise Unavailable(DISCOVERY_FAILED)  # a provider that is down is not hammered
            self._last_fetch_try = now
            try:
                keys = await self._fetch_keys()
            except DiscoveryError as exc:
                self._failed_at = now
                log.warning("OIDC discovery of %s failed: %s", self.config.issuer, exc)
                raise Unavailable(DISCOVERY_FAILED) from None
            self._failed_at = None
            self._keyset = _KeySet(keys, now)
            return self._keyset

    async def _fetch_keys(self) -> dict[str, _Key]:
        issuer = self.config.issuer
        async with httpx.AsyncClient(
            timeout=self.config.timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            document = await self._get_json(
                client, issuer.rstrip("/") + "/.well-known/openid-configuration"
            )
            if document.get("issuer") != issuer:
                raise DiscoveryError("the discovery document names another issuer")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise DiscoveryError("the discovery document has no jwks_uri")
            jwks = await self._get_json(client, jwks_uri)
        return _usable_keys(jwks)

    async def _get_json(self, client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        await check_url(url, allow_insecure=self.config.allow_insecure)
        try:
            async with client.stream("GET", url, headers={"Accept": "application/json"}) as resp:
                if resp.status_code != 200:
                    raise DiscoveryError(f"GET {url} answered {resp.status_code}")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise DiscoveryError(f"GET {url}: document too large")
        except httpx.HTTPError as exc:
            raise DiscoveryError(f"GET {url} failed: {exc}") from None
        try:
            parsed = orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise DiscoveryError(f"GET {url}: not JSON") from None
        if not isinstance(parsed, dict):
            raise DiscoveryError(f"GET {url}: not a JSON object")
        return parsed


def _usable_keys(jwks: dict[str, Any]) -> dict[str, _Key]:
    """Signing keys of a JWKS by ``kid`` (keys for encryption or of unknown types skipped)."""
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise DiscoveryError("the JWKS has no keys list")
    keys: dict[str, _Key] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") == "oct":  # a symmetric key has no place in a public key set
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        keys[kid if isinstance(kid, str) else f"#{index}"] = _Key(
            key, alg if isinstance(alg, str) else None
        )
    if not keys:
        raise DiscoveryError("the JWKS holds no usable signing key")
    return keys
