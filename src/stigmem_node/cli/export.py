"""``stigmem export``, ``stigmem import`` and ``stigmem backup``: the node's data, portable.

All three work on the database file (``--db`` or ``STIGMEM_DB_PATH``), like ``keys``: they
are operator commands, and an export or a backup holds every fact of every scope and garden.
Files they write are created with mode 0600 and never overwrite an existing file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click
import orjson

from stigmem_node.cli.common import DB_OPTION, settings_for
from stigmem_node.clock import SystemClock, format_ts
from stigmem_node.config import Settings
from stigmem_node.db import Database, SchemaTooNew
from stigmem_node.portability.backup import backup_database
from stigmem_node.portability.errors import PortabilityError
from stigmem_node.portability.export import export_txn
from stigmem_node.portability.importer import import_txn


@contextlib.contextmanager
def _database(settings: Settings, *, must_exist: bool) -> Iterator[Database]:
    """The node's database: PostgreSQL with ``STIGMEM_DATABASE_URL``, else the SQLite file."""
    if must_exist and not settings.database_url and not settings.db_path.is_file():
        raise click.ClickException(f"no database at {settings.db_path}")
    db = Database.from_settings(settings)
    try:
        db.open()
    except SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # an unreachable server, a file that is not a database
        raise click.ClickException(f"cannot open the database: {exc}") from None
    try:
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def _private_output(target: str | None) -> Iterator[BinaryIO]:
    """stdout, or a new file created 0600 (removed again if the export fails)."""
    if target is None or target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} already exists; an export never overwrites") from None
    except OSError as exc:
        raise click.ClickException(f"cannot create {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@click.command("export")
@click.option("-o", "--output", default=None, help="New file to write (default: stdout).")
@DB_OPTION
def export(output: str | None, db: str | None) -> None:
    """Write every fact and the state its reads depend on as NDJSON (a full, private copy)."""
    settings = settings_for(db)
    with _database(settings, must_exist=True) as database, _private_output(output) as out:
        try:
            summary = database.read_sync(export_txn, out, format_ts(SystemClock().now()))
        except PortabilityError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        orjson.dumps({"exported": summary.rows, "sha256": summary.sha256}).decode(), err=True
    )


@click.command("import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True))
@DB_OPTION
def import_(source: str, db: str | None) -> None:
    """Import an export (``-`` reads stdin): all or nothing, and idempotent."""
    settings = settings_for(db)
    now = format_ts(SystemClock().now())
    with _input(source) as lines, _database(settings, must_exist=False) as database:
        try:
            result = database.write_sync(import_txn, lines, now)
        except PortabilityError as exc:
            raise click.ClickException(f"nothing imported: {exc}") from None
    click.echo(orjson.dumps(result.to_json()).decode())


@contextlib.contextmanager
def _input(source: str) -> Iterator[BinaryIO]:
    if source == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(source, "rb")  # noqa: SIM115 (closed below; open errors reported here)
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror}") from None
    with handle:
        yield handle


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False))
@DB_OPTION
def backup(dest: str, db: str | None) -> None:
    """Copy the database, live, to the new file DEST (SQLite online backup, checked)."""
    settings = settings_for(db)
    if settings.database_url:
        raise click.ClickException(
            "stigmem backup copies a SQLite database; back PostgreSQL up with its own tools"
            " (pg_dump), or take a portable copy with stigmem export"
        )
    try:
        result = backup_database(settings.db_path, Path(dest))
    except PortabilityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(orjson.dumps(result.to_json()).decode())


COMMANDS = (export, import_, backup)
