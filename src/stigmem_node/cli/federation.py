"""``stigmem federation ...`` and ``stigmem peers ...``: the peer handshake and peer list.

``register-peer`` runs on the declaring node's host with upstream's flags: it reads the local
node's well-known document, signs our PeerDeclaration with the node's own key (so it must see
the node's database or ``STIGMEM_FEDERATION_PRIVKEY``) and POSTs it to the remote node.
``approve``, ``peers list`` and ``peers remove`` work on the local database, like ``keys``;
a running node picks the change up within seconds.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click
import httpx
import orjson

from stigmem_node.cli.common import DB_OPTION, local_node
from stigmem_node.cli.tls import node_verify
from stigmem_node.clock import format_ts
from stigmem_node.federation import handshake, store
from stigmem_node.federation.client import check_peer_url
from stigmem_node.federation.declarations import format_signed_at, sign_declaration
from stigmem_node.federation.keys import NodeKeys, b64url_decode
from stigmem_node.federation.store import PeerRow
from stigmem_node.node import Node

SCOPES = ("local", "team", "company", "public")
CLI_ACTOR = "system:cli"


@click.group()
def federation() -> None:
    """Federation: register with peers, approve them, list and remove them."""


def _scopes(value: str) -> list[str]:
    scopes = sorted({s.strip() for s in value.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise click.BadParameter(f"scopes must be a comma list of {', '.join(SCOPES)}")
    return scopes


def _get_json(http: httpx.Client, url: str) -> dict[str, Any]:
    try:
        response = http.get(url)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        raise click.ClickException(f"{url} answered {response.status_code}")
    body = response.json()
    if not isinstance(body, dict):
        raise click.ClickException(f"{url} did not answer a JSON object")
    return body


@federation.command("register-peer")
@click.option(
    "--local-url",
    default=None,
    help="This node's URL as peers reach it (default: STIGMEM_NODE_URL).",
)
@click.option("--remote-url", required=True, help="The peer node to register with.")
@click.option(
    "--scopes", default="company,public", show_default=True, help="Scopes we declare (comma list)."
)
@click.option(
    "--api-key",
    envvar="STIGMEM_API_KEY",
    required=True,
    help="An API key of the remote node with the federate permission.",
)
@DB_OPTION
def register_peer(
    local_url: str | None, remote_url: str, scopes: str, api_key: str, db: str | None
) -> None:
    """Sign this node's PeerDeclaration and POST it to the remote node."""
    declared = _scopes(scopes)
    with local_node(db) as node:
        local = _url(local_url or node.settings.node_url, "--local-url")
        remote = _url(remote_url, "--remote-url")
        keys, local_id = node.federation.keys, node.node_id
        verify = node_verify(node.settings)  # the node's certificate and CA bundle (mTLS)
    with httpx.Client(timeout=30.0, trust_env=False, verify=verify) as http:
        _check_local(http, local, local_id, keys)
        declaration = sign_declaration(keys, node_id=local_id, node_url=local,
                                       allowed_scopes=declared,
                                       signed_at=format_signed_at(datetime.now(UTC)))  # fmt: skip
        try:
            response = http.post(f"{remote}/v1/federation/peers", json=declaration.to_body(),
                                 headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {remote}: {exc}") from None
    _report(response, remote, keys)


def _url(value: str, option: str) -> str:
    try:
        return check_peer_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _check_local(http: httpx.Client, local: str, local_id: str, keys: NodeKeys) -> None:
    """The node at ``local`` must be the one whose database and key this command uses."""
    doc = _get_json(http, f"{local}/.well-known/stigmem")
    advertised = doc.get("federation_pubkey")
    try:
        same_key = isinstance(advertised, str) and b64url_decode(advertised) == b64url_decode(
            keys.pubkey
        )
    except ValueError:
        same_key = False
    if doc.get("node_id") != local_id or not same_key:
        raise click.ClickException(
            f"{local} is not the node whose database/keys this command sees (node_id or"
            " federation_pubkey differ, or federation is off there); run it with the node's"
            " --db and environment"
        )


def _report(response: httpx.Response, remote: str, keys: NodeKeys) -> None:
    """Print the remote's answer; exit 0 when registered (pending approval or active)."""
    click.echo(response.text)
    try:
        body = response.json() if response.status_code == 201 else {}
    except ValueError:
        body = {}
    status = body.get("status") if isinstance(body, dict) else None
    if status not in ("pending_approval", "active"):
        click.echo(f"registration failed (HTTP {response.status_code}, status {status})", err=True)
        sys.exit(1)
    click.echo(f"registered with {remote}: {status}", err=True)
    if status == "pending_approval":
        click.echo(f"the operator of {remote} approves with fingerprint {keys.fingerprint}",
                   err=True)  # fmt: skip


def _find(node: Node, ref: str) -> PeerRow:
    peer = node.db.read_sync(store.get_peer_txn, ref) or node.db.read_sync(
        store.get_peer_by_node_id_txn, ref
    )
    if peer is None:
        raise click.ClickException(f"no peer {ref!r} (give a peer id or a node id)")
    return peer


@federation.command("approve")
@click.argument("peer")
@click.option(
    "--fingerprint",
    required=True,
    help="sha256:<hex> of the peer's federation_pubkey, obtained out of band.",
)
@DB_OPTION
def approve(peer: str, fingerprint: str, db: str | None) -> None:
    """Approve a pending peer (by peer id or node id) after comparing its key fingerprint."""
    with local_node(db) as node:
        row = _find(node, peer)
        now = format_ts(node.clock.now())
        push = node.settings.federation_push_enabled
        outcome = node.db.write_sync(
            handshake.approve_txn, row.id, fingerprint, CLI_ACTOR, now, push
        )
    try:
        approved = handshake.raise_for_approval(outcome)
    except Exception as exc:
        raise click.ClickException(str(getattr(exc, "detail", exc))) from None
    click.echo(
        orjson.dumps(
            {
                "peer_id": approved.id,
                "node_id": approved.node_id,
                "status": approved.status,
                "approved_at": now,
            }
        ).decode()
    )


@click.group()
def peers() -> None:
    """List and remove federation peers (on the local database)."""


@peers.command("list")
@click.option("--status", default=None, help="Only peers in this status.")
@DB_OPTION
def peers_list(status: str | None, db: str | None) -> None:
    """One JSON line per peer, with its key fingerprint."""
    with local_node(db) as node:
        rows = node.db.read_sync(store.list_peers_txn, status)
    for row in rows:
        click.echo(orjson.dumps(row.to_wire()).decode())


@peers.command("remove")
@click.argument("peer")
@DB_OPTION
def peers_remove(peer: str, db: str | None) -> None:
    """Remove a peer (by peer id or node id): no more pulls from or serving to it."""
    with local_node(db) as node:
        row = _find(node, peer)
        node.db.write_sync(handshake.remove_txn, row.id, CLI_ACTOR, format_ts(node.clock.now()))
    click.echo(f"removed {row.id} ({row.node_id})")


federation.add_command(peers)
COMMANDS = (federation, peers)
