"""``stigmem migrate --to postgresql://...``: move a SQLite node into PostgreSQL, verified."""

from __future__ import annotations

from pathlib import Path

import click

from stigmem_node.cli.common import DB_OPTION, settings_for


def _postgres_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("must be a postgresql:// URL")
    return value


@click.command("migrate")
@click.option("--to", "url", required=True, callback=_postgres_url, metavar="URL",
              help="The empty PostgreSQL database to copy the node into.")  # fmt: skip
@DB_OPTION
def migrate(url: str, db: str | None) -> None:
    """Copy this node's SQLite database into PostgreSQL: every fact (with its sequence number
    and HLC), key, garden, peer, cursor and audit event. Both schemas are brought up to date
    first; the copy is verified table by table (row counts and SHA-256 of the rows) before it
    commits, and nothing is written if anything differs. Stop the node first; then start it
    with STIGMEM_DATABASE_URL set to the same URL."""
    from stigmem_node.db.postgres import redact
    from stigmem_node.db.transfer import TransferError, copy_to_postgres

    source = settings_for(db).db_path
    try:
        reports = copy_to_postgres(Path(source), url)
    except TransferError as exc:
        raise click.ClickException(str(exc)) from None
    width = max(len(r.name) for r in reports)
    for report in reports:
        click.echo(f"{report.name:<{width}}  {report.rows:>10} rows  sha256:{report.digest[:16]}")
    total = sum(r.rows for r in reports)
    click.echo(
        f"copied {total} rows in {len(reports)} tables from {source} to {redact(url)};"
        " every table verified (row count and SHA-256 of its rows; facts with their ids,"
        " CIDs, sequence numbers and HLCs)"
    )


COMMANDS = (migrate,)
