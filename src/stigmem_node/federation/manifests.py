"""Organisation manifests (wire reference §5.5): an entity's self-signed statement of its
signing key and the entities it speaks for.

The signature is base64url Ed25519, under ``public_key``, over the canonical JSON
(``canonical.canonical_bytes``) of ``entities, entity_uri, expires_at, issued_at, key_id,
public_key, rotation_events`` (``manifest_version`` is not signed). A manifest is valid for at
most 730 days. An upload replaces the stored manifest only if it is newer and does not bring
back a key that a rotation retired (409); an entity may upload at most 10 per hour (429).
Unlike upstream, only the entity itself (a key whose ``entity_uri`` is the manifest's) or an
``admin`` may publish it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stigmem_node.canonical import canonical_bytes
from stigmem_node.clock import format_ts, parse_ts
from stigmem_node.db import Cursor
from stigmem_node.errors import Conflict, NodeError
from stigmem_node.federation.keys import public_key_from_text, verify_signature

MAX_VALIDITY = timedelta(days=730)
UPLOADS_PER_HOUR = 10
SIGNED_FIELDS = (
    "entities",
    "entity_uri",
    "expires_at",
    "issued_at",
    "key_id",
    "public_key",
    "rotation_events",
)


class Manifest(BaseModel):
    """``PUT /v1/federation/manifest``; unknown fields are kept but not signed."""

    model_config = ConfigDict(extra="allow")

    manifest_version: str | int = "1"
    entity_uri: str = Field(min_length=1, max_length=2048)
    public_key: str = Field(min_length=1, max_length=128)
    key_id: str = Field(min_length=1, max_length=256)
    entities: list[str] = Field(default_factory=list, max_length=10_000)
    rotation_events: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    issued_at: str = Field(min_length=1, max_length=64)
    expires_at: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=256)

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        public_key_from_text(value)
        return value

    @field_validator("issued_at", "expires_at")
    @classmethod
    def _instant(cls, value: str) -> str:
        parse_ts(value)
        return value

    @model_validator(mode="after")
    def _signed_and_bounded(self) -> Manifest:
        issued, expires = parse_ts(self.issued_at), parse_ts(self.expires_at)
        if expires <= issued:
            raise ValueError("expires_at must be after issued_at")
        if expires - issued > MAX_VALIDITY:
            raise ValueError("a manifest is valid for at most 730 days")
        if not verify_signature(self.public_key, self.signature, self.signed_bytes()):
            raise ValueError("signature does not verify under public_key")
        return self

    def signed_bytes(self) -> bytes:
        return manifest_bytes(self.model_dump())


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return canonical_bytes({name: manifest.get(name) for name in SIGNED_FIELDS})


def get_manifest_txn(cur: Cursor, entity_uri: str, now: str) -> dict[str, Any] | None:
    """The stored, unexpired manifest of ``entity_uri``."""
    row = cur.execute(
        "SELECT manifest, expires_at FROM federation_manifests WHERE entity_uri = ?",
        (entity_uri,),
    ).fetchone()
    if row is None or format_ts(parse_ts(row[1])) <= now:
        return None
    manifest: dict[str, Any] = orjson.loads(row[0])
    return manifest


def store_manifest_txn(cur: Cursor, manifest: Manifest, stored_by: str, now: datetime) -> None:
    """Store ``manifest`` if it may replace the current one. Raises 409 / 429."""
    _check_rate(cur, manifest.entity_uri, now)
    _check_no_regression(cur, manifest)
    stamp = format_ts(now)
    cur.execute(
        "INSERT INTO federation_manifests (entity_uri, key_id, public_key, manifest, issued_at,"
        " expires_at, stored_at, stored_by) VALUES (?,?,?,?,?,?,?,?)"
        " ON CONFLICT (entity_uri) DO UPDATE SET key_id = excluded.key_id,"
        " public_key = excluded.public_key, manifest = excluded.manifest,"
        " issued_at = excluded.issued_at, expires_at = excluded.expires_at,"
        " stored_at = excluded.stored_at, stored_by = excluded.stored_by",
        (
            manifest.entity_uri,
            manifest.key_id,
            manifest.public_key,
            orjson.dumps(manifest.model_dump()).decode(),
            manifest.issued_at,
            manifest.expires_at,
            stamp,
            stored_by,
        ),
    )
    cur.execute(
        "INSERT INTO manifest_history (entity_uri, key_id, issued_at, stored_at)"
        " VALUES (?, ?, ?, ?)",
        (manifest.entity_uri, manifest.key_id, manifest.issued_at, stamp),
    )


def _check_rate(cur: Cursor, entity_uri: str, now: datetime) -> None:
    since = format_ts(now - timedelta(hours=1))
    recent = cur.execute(
        "SELECT COUNT(*) FROM manifest_history WHERE entity_uri = ? AND stored_at > ?",
        (entity_uri, since),
    ).fetchone()[0]
    if recent >= UPLOADS_PER_HOUR:
        raise NodeError(
            {
                "code": "manifest_rate_limited",
                "message": "at most 10 manifest uploads per entity per hour",
            },
            status=429,
            headers={"Retry-After": "3600"},
        )


def _check_no_regression(cur: Cursor, manifest: Manifest) -> None:
    row = cur.execute(
        "SELECT manifest FROM federation_manifests WHERE entity_uri = ?", (manifest.entity_uri,)
    ).fetchone()
    if row is None:
        return
    stored = orjson.loads(row[0])
    if parse_ts(manifest.issued_at) <= parse_ts(stored["issued_at"]):
        raise Conflict(
            {
                "code": "manifest_key_regression",
                "message": "issued_at is not later than the stored manifest's",
            }
        )
    retired = {
        event.get(name)
        for event in stored.get("rotation_events", [])
        if isinstance(event, dict)
        for name in ("old_key_id", "from_key_id", "revoked_key_id")
    }
    if manifest.key_id in retired - {None}:
        raise Conflict(
            {
                "code": "manifest_key_regression",
                "message": f"key {manifest.key_id!r} was rotated out",
            }
        )
