"""Reading an export back: checked line by line, written in the caller's one transaction."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from stigmem_node.audit.log import record_txn
from stigmem_node.db import Cursor
from stigmem_node.db.migrate import known_migrations
from stigmem_node.portability.errors import PortabilityError
from stigmem_node.portability.export import FORMAT, FORMAT_VERSION, SCALARS, table_columns_txn
from stigmem_node.portability.tables import BY_NAME, Table

IMPORT_ACTOR = "system:cli"


def _database_errors() -> tuple[type[Exception], ...]:
    """What a refused insert raises (constraints, triggers), on either engine."""
    try:
        import psycopg
    except ImportError:  # PostgreSQL support not installed: SQLite only
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


DATABASE_ERRORS = _database_errors()


@dataclass(slots=True)
class ImportResult:
    source_node_id: str | None
    exported_at: str | None
    inserted: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source_node_id": self.source_node_id,
            "exported_at": self.exported_at,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one table's rows are looked up and inserted."""

    table: Table
    columns: tuple[str, ...]
    select: str
    insert: str

    def key_of(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[k] for k in self.table.key)


def import_txn(cur: Cursor, lines: Iterable[bytes], now: str) -> ImportResult:
    """Import every row of an export; raise ``PortabilityError`` (nothing kept) on any fault."""
    numbered = enumerate(lines, start=1)
    digest = hashlib.sha256()
    header = _header(_first(numbered), digest)
    plans = {name: _plan(cur, name, columns) for name, columns in header["tables"].items()}
    result = ImportResult(header.get("node_id"), header.get("exported_at"))
    for name in plans:
        result.inserted[name] = result.unchanged[name] = 0
    for number, raw in numbered:
        obj = _parse(raw, number)
        if obj.get("type") == "footer":
            _check_footer(obj, digest, result, number)
            _expect_end(numbered)
            break
        if obj.get("type") != "row":
            raise PortabilityError("expected a row or the footer", number)
        digest.update(raw)
        _import_row(cur, plans, obj, number, result)
    else:
        raise PortabilityError("no footer: the file is truncated")
    if any(result.inserted.values()):
        record_txn(cur, now, "data_imported", entity_uri=IMPORT_ACTOR, detail=result.to_json())
    return result


def _first(numbered: Iterator[tuple[int, bytes]]) -> bytes:
    for _, raw in numbered:
        return raw
    raise PortabilityError("not a stigmem export: the file is empty")


def _expect_end(numbered: Iterator[tuple[int, bytes]]) -> None:
    for number, raw in numbered:
        if raw.strip():
            raise PortabilityError("content after the footer", number)


def _parse(raw: bytes, number: int) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise PortabilityError("not a JSON line", number) from None
    if not isinstance(obj, dict):
        raise PortabilityError("not a JSON object", number)
    return obj


def _header(raw: bytes, digest: Any) -> dict[str, Any]:
    header = _parse(raw, 1)
    if header.get("type") != "header" or header.get("format") != FORMAT:
        raise PortabilityError("not a stigmem export (no header)", 1)
    if header.get("format_version") != FORMAT_VERSION:
        raise PortabilityError(
            f"export format version {header.get('format_version')!r} is not {FORMAT_VERSION}", 1
        )
    newest = known_migrations()[-1].version
    version = header.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > newest:
        raise PortabilityError(
            f"export written by a newer node (schema {version!r}, this node knows {newest});"
            " upgrade this node first",
            1,
        )
    tables = header.get("tables")
    if not isinstance(tables, dict) or not all(
        isinstance(cols, list) and all(isinstance(c, str) for c in cols) for cols in tables.values()
    ):
        raise PortabilityError("header: tables must map table names to column lists", 1)
    digest.update(raw)
    return header


def _plan(cur: Cursor, name: str, columns: list[str]) -> _Plan:
    table = BY_NAME.get(name)
    if table is None:
        raise PortabilityError(f"header: table {name!r} cannot be imported", 1)
    local = set(table_columns_txn(cur, name)) - set(table.local)
    unknown = sorted(set(columns) - local)
    if unknown or len(set(columns)) != len(columns):
        raise PortabilityError(
            f"header: {name} has columns this node does not know: {unknown}"
            " (exported by a newer node?)"
            if unknown
            else f"header: {name} repeats a column",
            1,
        )
    missing = [k for k in table.key if k not in columns]
    if missing:
        raise PortabilityError(f"header: {name} lacks its key column(s) {missing}", 1)
    where = " AND ".join(f"{k} = ?" for k in table.key)
    return _Plan(
        table,
        tuple(columns),
        f"SELECT {', '.join(columns)} FROM {name} WHERE {where}",
        f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
    )


def _import_row(
    cur: Cursor, plans: dict[str, _Plan], obj: dict[str, Any], number: int, result: ImportResult
) -> None:
    table, row = obj.get("table"), obj.get("row")
    plan = plans.get(table) if isinstance(table, str) else None
    if plan is None:
        raise PortabilityError(f"row of table {table!r}, which the header does not declare", number)
    name = plan.table.name
    if not isinstance(row, dict) or set(row) != set(plan.columns):
        raise PortabilityError(f"{name} row does not have the header's columns", number)
    values = tuple(row[c] for c in plan.columns)
    if any(not isinstance(v, SCALARS) or isinstance(v, bool) for v in values):
        raise PortabilityError(f"{name} row holds a value that is not a string or number", number)
    key = plan.key_of(row)
    stored = cur.execute(plan.select, key).fetchone()
    if stored is not None:
        if tuple(stored) != values:
            differ = [c for c, a, b in zip(plan.columns, stored, values, strict=True) if a != b]
            raise PortabilityError(
                f"{name} {key!r} is stored here with other values ({', '.join(differ)});"
                " import never overwrites",
                number,
            )
        result.unchanged[name] += 1
        return
    try:
        cur.execute(plan.insert, values)
    except DATABASE_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PortabilityError(
            f"{name} {key!r} refused by the database: {reason}", number
        ) from None
    result.inserted[name] += 1


def _check_footer(footer: dict[str, Any], digest: Any, result: ImportResult, number: int) -> None:
    seen = {name: result.inserted[name] + result.unchanged[name] for name in result.inserted}
    if footer.get("rows") != seen:
        raise PortabilityError(
            f"footer counts {footer.get('rows')!r} differ from the rows read {seen!r}"
            " (truncated or edited file)",
            number,
        )
    if footer.get("sha256") != digest.hexdigest():
        raise PortabilityError("footer checksum does not match (corrupted or edited file)", number)
