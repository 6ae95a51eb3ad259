"""Node settings: every operator knob, read from ``STIGMEM_*`` environment variables.

Settings are built only by the CLI and by ``create_app`` callers (never at import time), so a
test can create as many differently configured nodes as it likes in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


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
    write_batch_max: int = Field(default=256, ge=1, le=10_000)
    read_threads: int = Field(default=4, ge=1, le=64)

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

    # -- decay, attestation, oidc, jobs (seed table) --------------------------------------
    decay_ttl_seconds: int = Field(default=0, ge=0)
    decay_min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    attestation_required: bool = False
    source_attestation_mode: Literal["off", "warn", "enforce"] = "off"
    oidc_enabled: bool = False
    oidc_issuer_url: str = ""
    oidc_audience: str = ""
    oidc_token_ttl_hours: float = Field(default=8, gt=0)
    oidc_allowed_domains: str = ""
    async_job_threshold: int = Field(default=100_000, ge=0)

    @field_validator("node_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
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


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise SettingsError(
            f"invalid setting STIGMEM_{field.upper()}: {first['msg']} (got {first.get('input')!r})"
        ) from None
