"""Helpers shared by command modules: settings and a started node on the local database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from stigmem_node.config import Settings, SettingsError, load_settings
from stigmem_node.node import Node

DB_OPTION = click.option("--db", "db", default=None, help="SQLite file (default: STIGMEM_DB_PATH).")


def settings_for(db: str | None) -> Settings:
    try:
        return load_settings(**({"db_path": Path(db)} if db else {}))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def local_node(db: str | None) -> Iterator[Node]:
    """The node's services on its own database, without serving HTTP (and no bootstrap)."""
    node = Node(settings_for(db).model_copy(update={"auth_required": False}))
    node.start()
    try:
        yield node
    finally:
        node.stop()
