"""Node settings: every operator knob, read from ``STIGMEM_*`` environment variables.

Settings are built only by the CLI and by ``create_app`` callers (never at import time), so a
test can create as many differently configured nodes as it likes in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]
# Asymmetric JWS algorithms only: an HMAC "key" from a public JWKS would be a forgery vector.
OIDC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class Settings(BaseSettings):
    """The node's configuration (the seed page's environment table, plus our additions)."""

    model_config = SettingsConfigDict(
        env_prefix="STIGMEM_",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    # -- core (seed table) -------------------------------------------------------------
    db_path: Path = Path("stigmem.db")
    host: str = "0.0.0.0"  # noqa: S104  (the seed's documented default bind address)
    port: int = Field(default=8765, ge=1, le=65535)
    node_url: str = "http://localhost:8765"
    log_level: LogLevel = "info"
    auth_required: bool = True
    node_id: str = ""

    # -- storage -------------------------------------------------------------------------
    sqlite_synchronous: Literal["full", "normal", "off"] = "full"
    # Per connection; measured at 1 000 000 facts (bench): 16 MB cache + 32 MB map keep RSS
    # at 280 MB with the same read latency as 32 + 256 (880 MB).
    sqlite_cache_mb: int = Field(default=16, ge=1, le=65_536)
    sqlite_mmap_mb: int = Field(default=32, ge=0, le=1_048_576)
    write_batch_max: int = Field(default=256, ge=1, le=10_000)
    read_threads: int = Field(default=4, ge=1, le=64)
    read_inline_ms: float = Field(default=1.0, ge=0, le=50)
    # PostgreSQL instead of the SQLite file when set (several node processes may share it).
    database_url: str = ""
    # How long a duty (a peer's pull loop, periodic decay) stays with a process that stopped
    # renewing its lease before another process sharing the database takes it over.
    lease_ttl_s: float = Field(default=30.0, ge=0.1, le=3600.0)
    # SQLite full-text index, caught up after the assert (recall/indexer.py): facts per
    # indexing transaction (≈ 5 µs of CPU and 5 ms of writer time each at 1 000; smaller
    # chunks cost more per fact), and the longest a fact waits for the background indexer.
    fulltext_chunk: int = Field(default=1000, ge=1, le=100_000)
    fulltext_delay_s: float = Field(default=1.0, ge=0.0, le=3600.0)

    # -- auth ----------------------------------------------------------------------------
    bootstrap_key: str = ""
    api_key_max_age_days: int = Field(default=90, ge=0)
    api_key_expiring_soon_days: int = Field(default=30, ge=1, le=365)
    api_key_cache_s: float = Field(default=60.0, ge=0.0, le=60.0)

    # -- facts ---------------------------------------------------------------------------
    max_text_bytes: int = Field(default=65_536, ge=1)
    max_batch_facts: int = Field(default=1000, ge=1, le=100_000)

    # -- federation (seed table; used by the federation feature) -------------------------
    federation_enabled: bool = False
    federation_pubkey: str = ""
    federation_privkey: str = ""
    federation_pull_interval_s: float = Field(default=30.0, gt=0)
    federation_push_enabled: bool = False
    federation_nonce_window_s: int = Field(default=300, ge=1)
    federation_allow_team: bool = False
    # -- federation (ours and upstream's undocumented knobs; see federation/__init__.py) ---
    federation_insecure: bool = False  # federation without mutual TLS (see tls/gate.py)
    peer_token_leeway_s: int = Field(default=30, ge=0, le=3600)
    federation_hlc_max_future_skew_s: int = Field(default=300, ge=0)
    federation_hlc_max_past_skew_s: int = Field(default=2_592_000, ge=1)
    federation_declaration_max_age_s: int = Field(default=3600, ge=1)
    federation_page_size: int = Field(default=500, ge=1, le=500)
    federation_max_pages_per_cycle: int = Field(default=100, ge=1)
    federation_backoff_base_s: float = Field(default=1.0, gt=0)
    federation_backoff_max_s: float = Field(default=300.0, gt=0)
    federation_push_interval_s: float = Field(default=0.5, gt=0)
    federation_request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    federation_max_inflight_serves: int = Field(default=16, ge=1)
    node_private_key: str = ""  # b64url Ed25519 seed signing capability tokens (else the fed. key)

    # -- transport security: HTTPS, mutual TLS between peers, start-up gate (tls/) -------
    tls_cert_path: str = ""
    tls_key_path: str = ""
    tls_ca_bundle: str = ""  # set: client certificates are requested and bound to node ids
    # Acknowledges insecure federation / auth off with a non-loopback STIGMEM_NODE_URL.
    local_dev_allow_insecure_non_loopback: bool = False

    # -- decay, attestation, oidc, jobs (seed table) --------------------------------------
    decay_ttl_seconds: int = Field(default=0, ge=0)
    decay_min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    decay_sweep_interval_s: float = Field(default=0.0, ge=0.0)  # periodic sweeps; 0 = off
    attestation_required: bool = False
    source_attestation_mode: Literal["off", "warn", "enforce"] = "off"
    oidc_enabled: bool = False
    oidc_issuer_url: str = ""
    oidc_audience: str = ""
    oidc_token_ttl_hours: float = Field(default=8, gt=0)
    oidc_allowed_domains: str = ""
    async_job_threshold: int = Field(default=100_000, ge=0)

    # -- identity and accountability: OIDC, rate limits, audit ----------------------------
    oidc_id_token_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"]
    )
    oidc_allow_insecure_issuer: bool = False  # development only: http / loopback issuers
    oidc_jwks_cache_s: float = Field(default=600.0, ge=0.0)
    oidc_http_timeout_s: float = Field(default=5.0, gt=0.0, le=60.0)
    oidc_max_token_bytes: int = Field(default=16_384, ge=1024, le=65_536)
    oidc_leeway_s: int = Field(default=0, ge=0, le=300)
    # Buckets refill at N/3600 per second and hold burst_s seconds of refill; 0 = unlimited.
    rate_limit_write_per_hour: int = Field(default=360_000, ge=0)
    rate_limit_read_per_hour: int = Field(default=1_800_000, ge=0)
    rate_limit_admin_per_hour: int = Field(default=36_000, ge=0)
    rate_limit_burst_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    rate_limit_disabled_ack: bool = False
    audit_retention_days: int = Field(default=0, ge=0)  # 0 = keep every event forever
    audit_coalesce_window_s: float = Field(default=60.0, gt=0.0, le=3600.0)

    @field_validator("node_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (or empty for SQLite)")
        return value

    @field_validator("oidc_id_token_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        unknown = [alg for alg in value if alg not in OIDC_ALGORITHMS]
        if unknown or not value:
            raise ValueError(f"must be a non-empty JSON list drawn from {sorted(OIDC_ALGORITHMS)}")
        return value

    @field_validator("rate_limit_disabled_ack")
    @classmethod
    def _limits_off_needs_ack(cls, value: bool, info: ValidationInfo) -> bool:
        limits = (
            info.data.get("rate_limit_write_per_hour"),
            info.data.get("rate_limit_read_per_hour"),
        )
        if limits == (0, 0) and not value:
            raise ValueError(
                "both STIGMEM_RATE_LIMIT_*_PER_HOUR are 0; set this to true to confirm"
            )
        return value

    @field_validator("oidc_allow_insecure_issuer")
    @classmethod
    def _oidc_issuer(cls, value: bool, info: ValidationInfo) -> bool:
        if not info.data.get("oidc_enabled"):
            return value
        issuer, audience = info.data.get("oidc_issuer_url"), info.data.get("oidc_audience")
        if not issuer or not audience:
            raise ValueError("OIDC is enabled: STIGMEM_OIDC_ISSUER_URL and _AUDIENCE are required")
        if not str(issuer).startswith("https://") and not value:
            raise ValueError(
                f"OIDC issuer {issuer!r} is not https; set this to true (development only)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def data_dir(self) -> Path:
        """Directory holding the database (and the first-run ``admin.key``)."""
        return self.db_path.expanduser().resolve().parent


class SettingsError(Exception):
    """Raised when the environment holds an invalid value; the message is one line."""


SECRET_SETTINGS = frozenset({"database_url"})


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        # A database URL may carry a password: never echo it.
        got = "" if field in SECRET_SETTINGS else f" (got {first.get('input')!r})"
        raise SettingsError(
            f"invalid setting STIGMEM_{field.upper()}: {first['msg']}{got}"
        ) from None
