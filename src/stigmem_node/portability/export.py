"""Writing an export: one read transaction (a consistent snapshot), streamed line by line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from stigmem_node.db import Cursor
from stigmem_node.portability.errors import PortabilityError
from stigmem_node.portability.tables import EXPORTED, Table

FORMAT = "stigmem-export"
FORMAT_VERSION = 1
SCALARS = (str, int, float, type(None))


@dataclass(frozen=True, slots=True)
class ExportSummary:
    rows: dict[str, int]
    sha256: str
    schema_version: int


def schema_version_txn(cur: Cursor) -> int:
    row = cur.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def table_columns_txn(cur: Cursor, name: str) -> list[str]:
    """The table's columns in schema order (empty when the table does not exist)."""
    if cur.dialect.is_postgres:
        rows = cur.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?"
            " AND is_generated = 'NEVER' ORDER BY ordinal_position",  # not the search vector
            (name,),
        ).fetchall()
        return [str(row[0]) for row in rows]
    return [str(row[1]) for row in cur.execute(f"PRAGMA table_info({name})").fetchall()]


def exported_columns_txn(cur: Cursor, table: Table) -> list[str]:
    columns = [c for c in table_columns_txn(cur, table.name) if c not in table.local]
    if not columns:
        raise PortabilityError(f"table {table.name} is missing from the database")
    return columns


class _Writer:
    """Writes lines to ``out`` and hashes every byte (the footer carries the digest)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()

    def line(self, obj: dict[str, Any], *, hashed: bool = True) -> None:
        data = orjson.dumps(obj) + b"\n"
        if hashed:
            self.digest.update(data)
        self.out.write(data)


def export_txn(cur: Cursor, out: BinaryIO, exported_at: str) -> ExportSummary:
    """Write the whole export to ``out``. Raises ``PortabilityError`` on an unencodable row."""
    node = cur.execute("SELECT value FROM node_meta WHERE key = 'node_id'").fetchone()
    columns = {table.name: exported_columns_txn(cur, table) for table in EXPORTED}
    version = schema_version_txn(cur)
    writer = _Writer(out)
    writer.line(
        {
            "type": "header",
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_version": version,
            "node_id": node[0] if node else None,
            "exported_at": exported_at,
            "tables": columns,
        }
    )
    rows = {
        table.name: _export_table(cur, writer, table, columns[table.name]) for table in EXPORTED
    }
    digest = writer.digest.hexdigest()
    writer.line({"type": "footer", "rows": rows, "sha256": digest}, hashed=False)
    return ExportSummary(rows, digest, version)


def _export_table(cur: Cursor, writer: _Writer, table: Table, columns: list[str]) -> int:
    count = 0
    select = f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {table.order}"
    for values in cur.execute(select):
        for column, value in zip(columns, values, strict=True):
            if not isinstance(value, SCALARS):
                raise PortabilityError(
                    f"{table.name}.{column} holds a {type(value).__name__}, not a JSON scalar"
                )
        try:
            writer.line(
                {"type": "row", "table": table.name, "row": dict(zip(columns, values, strict=True))}
            )
        except orjson.JSONEncodeError as exc:
            raise PortabilityError(f"{table.name}: a row cannot be encoded: {exc}") from None
        count += 1
    return count
