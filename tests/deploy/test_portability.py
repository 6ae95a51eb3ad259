"""``stigmem export`` / ``import`` / ``backup`` on real databases (SQLite files; PostgreSQL
where marked, and SQLite → PostgreSQL).

The round trip is checked three ways: every FactRecord (as the store builds it, contradiction
and quarantine state included) is equal on both databases, every exported table is equal row
for row, and a node started on the imported database answers the same reads over HTTP.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from stigmem_node.cli import main
from stigmem_node.clock import FakeClock, format_ts
from stigmem_node.config import Settings
from stigmem_node.db import Database
from stigmem_node.facts.rules import SELECT_RECORD, to_record
from stigmem_node.portability.export import exported_columns_txn
from stigmem_node.portability.tables import DERIVED_PREFIX, EXCLUDED, EXPORTED
from tests import pg
from tests.conftest import NodeHarness, start_node
from tests.deploy.portability_data import populate

READ_PARAMS: list[dict[str, Any]] = [
    {"limit": 500},
    {"limit": 500, "include_contradicted": "true", "include_expired": "true"},
    {"limit": 500, "entity": "user:fay", "include_contradicted": "true"},
    {"limit": 500, "scope": "public"},
]
BOTH_ENGINES = pytest.mark.parametrize(
    "engine", pg.ENGINES, indirect=True, scope="session"
)  # the autouse storage fixture gives each node a database of this engine


@dataclass(frozen=True)
class Place:
    """A database as the CLI is pointed at it: ``--db`` (SQLite) or the URL (PostgreSQL)."""

    settings: Settings

    @property
    def args(self) -> list[str]:
        return [] if self.settings.database_url else ["--db", str(self.settings.db_path)]

    @property
    def env(self) -> dict[str, str]:
        url = self.settings.database_url
        return {"STIGMEM_DATABASE_URL": url} if url else {}


def place(storage: pg.Storage, directory: Path) -> Place:
    """A new, empty database of the test's engine."""
    url = storage.new_database_url() if storage.engine == "postgres" else ""
    return Place(Settings(db_path=directory / "stigmem.db", database_url=url))


def cli(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)


@contextmanager
def opened(where: Place) -> Iterator[Database]:
    db = Database.from_settings(where.settings)
    db.open()
    try:
        yield db
    finally:
        db.close()


def records(where: Place, now: str) -> list[dict[str, Any]]:
    with opened(where) as db:
        rows = pg.rows(db, f"{SELECT_RECORD} ORDER BY f.seq", {"now": now})
    return [to_record(row) for row in rows]


def tables(where: Place) -> dict[str, list[tuple[Any, ...]]]:
    def read_all(cur: Any) -> dict[str, list[tuple[Any, ...]]]:
        out = {}
        for table in EXPORTED:
            columns = ", ".join(exported_columns_txn(cur, table))
            sql = f"SELECT {columns} FROM {table.name} ORDER BY {table.order}"
            out[table.name] = [tuple(r) for r in cur.execute(sql).fetchall()]
        return out

    with opened(where) as db:
        return db.read_sync(read_all)


def count(where: Place, sql: str) -> int:
    with opened(where) as db:
        return int(pg.rows(db, sql)[0][0])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read(path: Path) -> bytes:
    return path.read_bytes()


async def reads(client: httpx.AsyncClient) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, params in enumerate(READ_PARAMS):
        body = (await client.get("/v1/facts", params=params)).json()
        out[f"facts{i}"] = (body["total"], body["facts"])
    for path in ("/v1/conflicts", "/v1/gardens", "/v1/quarantine", "/v1/gardens/team-x/members"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        out[path] = response.json()
    return out


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    """A node full of varied memory (FakeClock, so both sides read at the same instant)."""
    async for harness in start_node(tmp_path / "src", clock=FakeClock()):
        async with harness.client() as client:
            await populate(client, harness.node)
        yield harness


@pytest.fixture
def src(source: NodeHarness) -> Place:
    return Place(source.node.settings)


@pytest.fixture
def exported(src: Place, tmp_path: Path) -> Path:
    """An export taken while the source node runs."""
    out = tmp_path / "memory.ndjson"
    result = cli("export", *src.args, "-o", str(out), env=src.env)
    assert result.exit_code == 0, result.output
    return out


async def check_round_trip(
    source: NodeHarness, src: Place, dst: Place, exported: Path, tmp_path: Path
) -> None:
    done = cli("import", str(exported), *dst.args, env=dst.env)
    assert done.exit_code == 0, done.output
    summary = orjson.loads(done.stdout)
    assert summary["inserted"]["facts"] == count(src, "SELECT COUNT(*) FROM facts")
    assert all(n > 0 for n in summary["inserted"].values()), summary  # every table exercised
    assert source.clock is not None
    now = format_ts(source.clock.now())
    assert records(dst, now) == records(src, now)
    assert tables(dst) == tables(src)
    async with source.client() as client:
        expected = await reads(client)
    where = {"db_path": dst.settings.db_path, "database_url": dst.settings.database_url}
    async for copy in start_node(tmp_path / "copy", clock=FakeClock(source.clock.now()), **where):
        async with copy.client() as client:
            assert await reads(client) == expected


@BOTH_ENGINES
async def test_round_trip_reproduces_every_record_table_and_read(
    source: NodeHarness, src: Place, exported: Path, tmp_path: Path, storage: pg.Storage
) -> None:
    assert mode(exported) == 0o600
    await check_round_trip(source, src, place(storage, tmp_path / "dst"), exported, tmp_path)


async def test_sqlite_to_postgresql(
    source: NodeHarness, src: Place, exported: Path, tmp_path: Path, pg_server: Any
) -> None:
    """Export and import move a SQLite node's memory to PostgreSQL, losslessly."""
    if isinstance(pg_server, str):
        pg.unavailable(pg_server)
    name, url = pg_server.create_database()
    try:
        dst = Place(Settings(db_path=tmp_path / "pg" / "unused.db", database_url=url))
        await check_round_trip(source, src, dst, exported, tmp_path)
    finally:
        pg_server.drop_database(name)


@BOTH_ENGINES
async def test_import_twice_changes_nothing(
    exported: Path, tmp_path: Path, storage: pg.Storage
) -> None:
    dst = place(storage, tmp_path / "dst")
    assert cli("import", str(exported), *dst.args, env=dst.env).exit_code == 0
    before = tables(dst), count(dst, "SELECT COUNT(*) FROM audit_log")
    again = cli("import", str(exported), *dst.args, env=dst.env)
    assert again.exit_code == 0, again.output
    summary = orjson.loads(again.stdout)
    assert set(summary["inserted"].values()) == {0}
    assert summary["unchanged"]["facts"] > 0
    assert (tables(dst), count(dst, "SELECT COUNT(*) FROM audit_log")) == before


async def test_import_is_audited_and_reads_stdin(exported: Path, tmp_path: Path) -> None:
    dst = Place(Settings(db_path=tmp_path / "dst.db"))
    done = cli("import", "-", *dst.args, stdin=read(exported))
    assert done.exit_code == 0, done.output
    assert count(dst, "SELECT COUNT(*) FROM audit_log WHERE event_type = 'data_imported'") == 1


async def test_export_to_stdout_equals_the_file(
    source: NodeHarness, src: Place, exported: Path
) -> None:
    result = cli("export", *src.args)
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    header, footer = orjson.loads(lines[0]), orjson.loads(lines[-1])
    assert header["format"] == "stigmem-export"
    assert header["node_id"] == source.node.node_id
    assert footer["rows"]["facts"] == len([ln for ln in lines if b'"table":"facts"' in ln])
    # Same rows (the header's export time, hence the checksum, differ).
    assert lines[1:-1] == read(exported).splitlines()[1:-1]


def test_every_table_is_exported_or_excluded_with_a_reason(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    db.open()
    db.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    schema = {n for n in names if not n.startswith(DERIVED_PREFIX)}
    exported = {t.name for t in EXPORTED}
    assert not exported & set(EXCLUDED)
    assert schema - exported - set(EXCLUDED) == set(), "classify new tables in tables.py"
    assert exported <= schema


# -- refusals: a clear message, exit 1, and nothing written ---------------------------------
def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _edit_row(lines: list[bytes], table: str, **changes: Any) -> list[bytes]:
    for i, raw in enumerate(lines):
        obj = orjson.loads(raw)
        if obj.get("table") == table:
            obj["row"].update(changes)
            lines[i] = orjson.dumps(obj) + b"\n"
            return lines
    raise AssertionError(f"no {table} row")


def _header(lines: list[bytes], **changes: Any) -> list[bytes]:
    obj = orjson.loads(lines[0])
    obj.update(changes)
    return [orjson.dumps(obj) + b"\n", *lines[1:]]


BAD_FILES: dict[str, tuple[Any, str]] = {
    "empty": (lambda ls: [], "the file is empty"),
    "not-json": (lambda ls: [b"{nope\n", *ls], "line 1: not a JSON line"),
    "not-an-export": (lambda ls: [b'{"type":"row"}\n', *ls[1:]], "not a stigmem export"),
    "format-version": (lambda ls: _header(ls, format_version=2), "format version 2"),
    "newer-schema": (lambda ls: _header(ls, schema_version=9999), "written by a newer node"),
    "unknown-table": (
        lambda ls: _header(ls, tables={**orjson.loads(ls[0])["tables"], "api_keys": ["id"]}),
        "table 'api_keys' cannot be imported",
    ),
    "unknown-column": (
        lambda ls: _header(ls, tables={**orjson.loads(ls[0])["tables"], "facts": ["id", "zz"]}),
        "facts has columns this node does not know: ['zz']",
    ),
    "truncated": (lambda ls: ls[:-1], "no footer: the file is truncated"),
    "cut-mid-table": (lambda ls: [*ls[:5], ls[-1]], "footer counts"),
    "edited-value": (
        lambda ls: _edit_row(ls, "facts", value_v="tampered"),
        "footer checksum does not match",
    ),
    "bool-value": (lambda ls: _edit_row(ls, "facts", confidence=True), "not a string or number"),
    "missing-column": (
        lambda ls: (
            _edit_row(ls, "facts", cid=None) and [ln.replace(b'"cid":null,', b"") for ln in ls]
        ),
        "does not have the header's columns",
    ),
    "bad-scope": (lambda ls: _edit_row(ls, "facts", scope="galaxy"), "refused by the database"),
    "after-footer": (lambda ls: [*ls, b'{"type":"row"}\n'], "content after the footer"),
    "stray-line": (
        lambda ls: [*ls[:2], b'{"type":"x"}\n', *ls[2:]],
        "expected a row or the footer",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
async def test_bad_files_are_refused_whole(exported: Path, tmp_path: Path, case: str) -> None:
    edit, message = BAD_FILES[case]
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"".join(edit(_lines(exported))))
    dst = Place(Settings(db_path=tmp_path / "dst.db"))
    result = cli("import", str(bad), *dst.args)
    assert result.exit_code == 1
    assert "nothing imported" in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert count(dst, "SELECT COUNT(*) FROM facts") == 0
    assert count(dst, "SELECT COUNT(*) FROM audit_log") == 0


@BOTH_ENGINES
async def test_a_row_that_contradicts_a_stored_one_refuses_the_file(
    exported: Path, tmp_path: Path, storage: pg.Storage
) -> None:
    dst = place(storage, tmp_path / "dst")
    first = _lines(exported)
    assert cli("import", str(exported), *dst.args, env=dst.env).exit_code == 0
    before = tables(dst), count(dst, "SELECT COUNT(*) FROM audit_log")
    # The same ids with other content: nothing of the file may land, not even its other rows.
    lines = _edit_row(first, "facts", source="agent:someone-else")
    other = tmp_path / "other.ndjson"
    other.write_bytes(b"".join(lines))
    result = cli("import", str(other), *dst.args, env=dst.env)
    assert result.exit_code == 1
    assert "is stored here with other values (source)" in result.stderr, result.stderr
    assert (tables(dst), count(dst, "SELECT COUNT(*) FROM audit_log")) == before


@BOTH_ENGINES
async def test_a_constraint_violation_refuses_the_file(
    exported: Path, tmp_path: Path, storage: pg.Storage
) -> None:
    dst = place(storage, tmp_path / "dst")
    bad = tmp_path / "bad.ndjson"
    lines = _edit_row(_lines(exported), "fact_retractions", fact_id="no-such-fact")
    bad.write_bytes(b"".join(lines))
    result = cli("import", str(bad), *dst.args, env=dst.env)
    assert result.exit_code == 1
    assert "refused by the database" in result.stderr, result.stderr
    assert count(dst, "SELECT COUNT(*) FROM facts") == 0
    assert count(dst, "SELECT COUNT(*) FROM audit_log") == 0


def test_export_refusals(tmp_path: Path) -> None:
    missing = cli("export", "--db", str(tmp_path / "none.db"))
    assert missing.exit_code == 1
    assert "no database at" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    db = tmp_path / "s.db"
    assert cli("import", "-", "--db", str(db), stdin=b"").exit_code == 1  # creates an empty db
    taken = tmp_path / "taken.ndjson"
    taken.write_text("keep me")
    result = cli("export", "--db", str(db), "-o", str(taken))
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert taken.read_text() == "keep me"
    nofile = cli("import", str(tmp_path / "nope.ndjson"), "--db", str(db))
    assert nofile.exit_code == 1
    assert "cannot read" in nofile.stderr


# -- backup ----------------------------------------------------------------------------------
async def test_backup_of_a_live_node_is_a_whole_private_database(
    source: NodeHarness, tmp_path: Path
) -> None:
    dest = tmp_path / "backups" / "b1.db"
    dest.parent.mkdir()
    async with source.client() as client:
        result = cli("backup", str(dest), "--db", str(source.node.settings.db_path))
        # The node keeps serving writes during and after the backup.
        assert (await client.post("/v1/facts", json={
            "entity": "user:after", "relation": "r:x", "value": {"type": "string", "v": "1"},
            "source": "agent:t", "scope": "company"})).status_code == 201  # fmt: skip
    assert result.exit_code == 0, result.output
    info = orjson.loads(result.stdout)
    assert info["check"] == "ok"
    assert info["backup"] == str(dest)
    assert mode(dest) == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["b1.db"]  # no partial files left
    src = Place(source.node.settings)
    copy = Place(Settings(db_path=dest))
    assert info["facts"] == count(copy, "SELECT COUNT(*) FROM facts")
    assert count(src, "SELECT COUNT(*) FROM facts") == info["facts"] + 1
    # Everything, node identity and keys included, is in the copy; a node starts on it.
    assert count(copy, "SELECT COUNT(*) FROM api_keys") >= 1
    assert source.clock is not None
    now = format_ts(source.clock.now())
    async for restored in start_node(tmp_path / "r", clock=FakeClock(source.clock.now()),
                                     db_path=dest):  # fmt: skip
        assert restored.node.node_id == source.node.node_id
        async with restored.client() as client:
            page = (await client.get("/v1/facts", params={"entity": "user:new"})).json()
            assert page["total"] == 1
    assert records(copy, now)[: info["facts"]] == records(src, now)[: info["facts"]]


def test_backup_refusals(tmp_path: Path) -> None:
    missing = cli("backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "none.db"))
    assert missing.exit_code == 1
    assert "no database at" in missing.stderr
    src = tmp_path / "s.db"
    src.write_text("not a database")
    bad = cli("backup", str(tmp_path / "b.db"), "--db", str(src))
    assert bad.exit_code == 1
    assert "backup of" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]
    nodir = cli("backup", str(tmp_path / "no" / "b.db"), "--db", str(src))
    assert nodir.exit_code == 1
    assert "does not exist" in nodir.stderr
    src.unlink()
    good = tmp_path / "good.db"
    sqlite3.connect(good).close()
    (tmp_path / "exists.db").write_text("x")
    taken = cli("backup", str(tmp_path / "exists.db"), "--db", str(good))
    assert taken.exit_code == 1
    assert "already exists" in taken.stderr
    empty = cli("backup", str(tmp_path / "copy.db"), "--db", str(good))
    assert empty.exit_code == 1
    assert "not a stigmem database" in empty.stderr
    assert not (tmp_path / "copy.db").exists()
    pg_node = cli("backup", str(tmp_path / "pg.db"),
                  env={"STIGMEM_DATABASE_URL": "postgresql://127.0.0.1:1/none"})  # fmt: skip
    assert pg_node.exit_code == 1
    assert "pg_dump" in pg_node.stderr
