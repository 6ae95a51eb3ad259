"""``stigmem decay sweep``: a decay sweep straight on the node's database (cron-friendly)."""

from __future__ import annotations

import asyncio
import math

import click
import orjson

from stigmem_node.cli.common import DB_OPTION, local_node
from stigmem_node.facts.models import SCOPES


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter("must be a number between 0 and 1")
    return value


@click.group()
def decay() -> None:
    """Expire old facts and retract weak ones (new rows; facts never change)."""


@decay.command("sweep")
@click.option("--ttl-seconds", type=click.IntRange(min=0), default=None,
              help="Expire facts without an expiry older than N s (0 = all). "
                   "Default: STIGMEM_DECAY_TTL_SECONDS.")  # fmt: skip
@click.option("--min-confidence", type=click.FloatRange(0.0, 1.0), default=None,
              callback=lambda _c, _p, v: _finite(v),
              help="Retract live facts below this confidence. "
                   "Default: STIGMEM_DECAY_MIN_CONFIDENCE.")  # fmt: skip
@click.option("--scope", type=click.Choice(SCOPES), default=None, help="Only this scope.")
@click.option("--dry-run", is_flag=True, help="Report what would decay; write nothing.")
@DB_OPTION
def sweep(
    ttl_seconds: int | None,
    min_confidence: float | None,
    scope: str | None,
    dry_run: bool,
    db: str | None,
) -> None:
    """Run one sweep over every fact; print {"scanned", "decayed", "dry_run"}."""
    with local_node(db) as node:
        result = asyncio.run(
            node.decay.sweep_as_node(scope, ttl_seconds, min_confidence, dry_run=dry_run)
        )
    click.echo(orjson.dumps(result).decode())


COMMANDS = (decay,)
