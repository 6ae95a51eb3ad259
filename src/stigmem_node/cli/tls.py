"""``stigmem tls dev-ca`` and ``stigmem tls issue``: certificates for mutual TLS between peers.

``dev-ca`` makes a development CA (``ca.crt``, ``ca.key``). ``issue`` signs a node
certificate with it: the node id as URI SAN (what peers check), DNS/IP SANs for HTTPS
clients, server and client purposes. Without ``--node-id`` it certifies the local node, whose
id comes from ``STIGMEM_NODE_ID`` or its database (created there on first use, exactly as the
node does), so it runs beside the node with the node's environment. It writes ``node.crt``,
``node.key`` (mode 0600) and ``ca.crt`` (the bundle peers are verified against) into one
directory, and prints the settings that use them. Files are replaced atomically (``--force``),
so a running node picks a renewed certificate up on its next connection.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import click

from stigmem_node.cli.common import DB_OPTION, local_node
from stigmem_node.config import Settings, SettingsError
from stigmem_node.tls import contexts, devca
from stigmem_node.tls.devca import CertificateError
from stigmem_node.tls.files import tls_files


@click.group()
def tls() -> None:
    """Certificates for HTTPS and mutual TLS between peers (see docs/tls.md)."""


@tls.command("dev-ca")
@click.option("--out", "out_dir", default="tls", show_default=True, type=click.Path(),
              help="Directory for ca.crt and ca.key.")  # fmt: skip
@click.option("--name", default="Stigmem development CA", show_default=True,
              help="The CA's common name.")  # fmt: skip
@click.option("--days", type=click.IntRange(1, 36_500), default=3650, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing CA (certificates it signed"
              " stop verifying once peers trust only the new one).")  # fmt: skip
def dev_ca(out_dir: str, name: str, days: int, force: bool) -> None:
    """Create a development certificate authority."""
    out = Path(out_dir)
    try:
        ca = devca.create_ca(name, days=days)
        devca.write_pair(ca, out / devca.CA_CERT, out / devca.CA_KEY, force=force)
    except CertificateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out / devca.CA_CERT} and {out / devca.CA_KEY} (keep the key private)")
    click.echo(f"next: stigmem tls issue --ca {out} --out <dir> [--node-id <id>] [--dns <name>]")


@tls.command("issue")
@click.option("--node-id", default=None,
              help="The node id to certify (default: the local node's, from STIGMEM_NODE_ID"
                   " or its database).")  # fmt: skip
@click.option("--ca", "ca_dir", default="tls", show_default=True, type=click.Path(),
              help="Directory holding ca.crt and ca.key.")  # fmt: skip
@click.option("--out", "out_dir", required=True, type=click.Path(),
              help="Directory for node.crt, node.key and ca.crt.")  # fmt: skip
@click.option("--dns", "dns_names", multiple=True,
              help="DNS name clients use (repeatable; default: localhost).")  # fmt: skip
@click.option(
    "--ip",
    "ips",
    multiple=True,
    help="IP address clients use (repeatable; default: 127.0.0.1 and ::1).",
)
@click.option("--days", type=click.IntRange(1, 3650), default=397, show_default=True)
@click.option("--force", is_flag=True, help="Replace existing files (certificate renewal).")
@DB_OPTION
def issue(node_id: str | None, ca_dir: str, out_dir: str, dns_names: tuple[str, ...],
          ips: tuple[str, ...], days: int, force: bool, db: str | None) -> None:  # fmt: skip
    """Issue a node certificate signed by the development CA."""
    ca_path = Path(ca_dir)
    out = Path(out_dir)
    try:
        ca = devca.load_ca(ca_path / devca.CA_CERT, ca_path / devca.CA_KEY)
        subject = devca.check_node_id(node_id) if node_id else _local_node_id(db)
        issued = devca.issue_node(
            ca,
            subject,
            dns_names=list(dns_names) or ["localhost"],
            ip_addresses=list(ips) or ["127.0.0.1", "::1"],
            days=days,
        )
        devca.write_pair(issued, out / devca.NODE_CERT, out / devca.NODE_KEY, force=force)
        _copy_bundle(ca_path / devca.CA_CERT, out / devca.CA_CERT)
    except CertificateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"issued {out / devca.NODE_CERT} for {subject}, valid until"
               f" {issued.cert.not_valid_after_utc:%Y-%m-%d}")  # fmt: skip
    for variable, name in (("CERT_PATH", devca.NODE_CERT), ("KEY_PATH", devca.NODE_KEY),
                           ("CA_BUNDLE", devca.CA_CERT)):  # fmt: skip
        click.echo(f"STIGMEM_TLS_{variable}={(out / name).resolve()}")


def _local_node_id(db: str | None) -> str:
    with local_node(db) as node:
        return devca.check_node_id(node.node_id)


def _copy_bundle(source: Path, target: Path) -> None:
    if source.resolve() == target.resolve():
        return
    try:
        devca.write_atomic(target, source.read_bytes(), 0o644)
    except OSError as exc:
        raise CertificateError(f"cannot copy {source} to {target}: {exc}") from None


def node_verify(settings: Settings) -> ssl.SSLContext | bool:
    """``verify`` for CLI calls to nodes: the node's own mutual-TLS client context (its
    certificate, its CA bundle) when it has one, else the system trust store. Raises
    ``click.ClickException`` when the files do not load."""
    try:
        files = tls_files(settings)
        if files is None or not files.mutual:
            return True
        return contexts.client_context(files)
    except (SettingsError, OSError, ssl.SSLError) as exc:
        raise click.ClickException(f"the node's TLS files do not load: {exc}") from None


COMMANDS = (tls,)
