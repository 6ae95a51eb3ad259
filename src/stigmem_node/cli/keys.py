"""``stigmem auth ...`` and ``stigmem keys ...``: API keys straight on the database."""

from __future__ import annotations

import sys

import click
import orjson

from stigmem_node.audit.log import record_txn
from stigmem_node.auth import store as key_store
from stigmem_node.auth.caller import PERMISSIONS
from stigmem_node.auth.service import (
    BOOTSTRAP_PERMISSIONS,
    MAX_KEY_LENGTH,
    MIN_KEY_LENGTH,
    generate_key,
)
from stigmem_node.auth.store import KeyRow
from stigmem_node.cli.common import DB_OPTION, local_node
from stigmem_node.clock import format_ts, normalise_ts
from stigmem_node.db import Cursor
from stigmem_node.errors import NodeError
from stigmem_node.node import Node

CLI_ACTOR = "system:cli"


@click.group()
def auth() -> None:
    """Authentication set-up."""


@auth.command("bootstrap-key")
@click.option("--key", "raw_key", envvar="STIGMEM_BOOTSTRAP_KEY", default=None)
@click.option("--entity-uri", default="agent:admin", show_default=True)
@click.option("--permissions", default=",".join(BOOTSTRAP_PERMISSIONS), show_default=True)
@DB_OPTION
def bootstrap_key(raw_key: str | None, entity_uri: str, permissions: str, db: str | None) -> None:
    """Register the first API key (only while the store holds none)."""
    if not raw_key or len(raw_key) < 16:
        click.echo(
            "error: --key (or STIGMEM_BOOTSTRAP_KEY) of at least 16 characters required", err=True
        )
        sys.exit(2)
    with local_node(db) as node:
        if node.db.read_sync(key_store.count_keys_txn) > 0:
            click.echo("error: API keys already exist; use POST /v1/auth/keys", err=True)
            sys.exit(1)
        _create(node, raw_key, entity_uri, permissions.split(","), None, None)
    click.echo(f"bootstrap key registered for {entity_uri}")


@click.group()
def keys() -> None:
    """Manage API keys directly in the database (works even when every key expired)."""


@keys.command("create")
@click.option("--entity-uri", required=True)
@click.option("--permissions", default="read,write", show_default=True)
@click.option("--description", default=None)
@click.option("--expires-at", default=None, help="ISO 8601; default: the maximum key age.")
@click.option("--key", "raw_key", default=None, help="Key value (default: generated).")
@DB_OPTION
def keys_create(
    entity_uri: str,
    permissions: str,
    description: str | None,
    expires_at: str | None,
    raw_key: str | None,
    db: str | None,
) -> None:
    """Mint a key and print it once (JSON: id, raw_key, entity_uri)."""
    if raw_key is not None and not MIN_KEY_LENGTH <= len(raw_key) <= MAX_KEY_LENGTH:
        raise click.BadParameter(
            f"must be {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} characters", param_hint="--key"
        )
    raw = raw_key or generate_key()
    with local_node(db) as node:
        key = _create(node, raw, entity_uri, permissions.split(","), description, expires_at)
    click.echo(orjson.dumps({"id": key, "raw_key": raw, "entity_uri": entity_uri}).decode())


@keys.command("list")
@click.option("--entity-uri", default=None, help="Only this entity's keys.")
@DB_OPTION
def keys_list(entity_uri: str | None, db: str | None) -> None:
    """List every key, one JSON object a line (never the secrets); expired keys are marked."""
    with local_node(db) as node:
        rows = node.db.read_sync(key_store.list_all_keys_txn)
        now = format_ts(node.clock.now())
    for row in rows:
        if entity_uri is not None and row.entity_uri != entity_uri:
            continue
        click.echo(
            orjson.dumps(
                {
                    "id": row.id,
                    "entity_uri": row.entity_uri,
                    "permissions": row.permissions,
                    "description": row.description,
                    "created_at": row.created_at,
                    "expires_at": row.expires_at,
                    "oidc_sub": row.oidc_sub,
                    "expired": row.expires_at is not None and row.expires_at <= now,
                }
            ).decode()
        )


@keys.command("revoke")
@click.argument("key_id")
@DB_OPTION
def keys_revoke(key_id: str, db: str | None) -> None:
    """Delete a key by id (recorded in the audit log as ``api_key_revoked`` by system:cli)."""
    with local_node(db) as node:
        row = node.db.read_sync(key_store.get_key_txn, key_id)
        if row is None:
            raise click.ClickException("Key not found")
        node.db.write_sync(_revoke_txn, row, format_ts(node.clock.now()))
    click.echo(f"revoked {key_id}")


def _revoke_txn(cur: Cursor, key: KeyRow, now: str) -> None:
    key_store.delete_key_txn(cur, key.id)
    record_txn(
        cur,
        now,
        "api_key_revoked",
        entity_uri=CLI_ACTOR,
        detail={"key_id": key.id, "for": key.entity_uri},
    )


def _create(
    node: Node,
    raw: str,
    entity_uri: str,
    permissions: list[str],
    description: str | None,
    expires_at: str | None,
) -> str:
    try:
        expiry = normalise_ts(expires_at) if expires_at else None
        key = node.keys.build_key(
            raw, entity_uri, [p.strip() for p in permissions if p.strip()],
            description=description, expires_at=expiry, allowed=PERMISSIONS,
        )  # fmt: skip
        node.keys.insert_sync(key, CLI_ACTOR)
    except (NodeError, ValueError) as exc:
        raise click.ClickException(str(getattr(exc, "detail", exc))) from None
    return key.id
