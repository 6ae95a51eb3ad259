"""``stigmem migrate --to postgresql://...``: a SQLite node moves into PostgreSQL losslessly."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stigmem_node.cli import main as cli
from stigmem_node.clock import FakeClock
from stigmem_node.config import Settings
from tests import pg
from tests.conftest import NodeHarness, fact_body, make_settings, start_node
from tests.identity.support import public_b64

pytestmark = pytest.mark.postgres_only

SQLITE = pg.Storage("sqlite", lambda: pg.PgServer(""))
TABLES_WITH_ROWS = (
    "node_meta", "facts", "fact_retractions", "conflicts", "api_keys", "audit_log",
    "batch_requests", "agent_keys", "gardens", "garden_members", "fact_quarantine",
    "fact_validity_overrides", "jobs", "peers", "replication_cursors", "nonce_cache",
)  # fmt: skip
PUBKEY = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE"


@contextlib.asynccontextmanager
async def node(tmp_path: Path, **settings: Any) -> AsyncIterator[NodeHarness]:
    nodes = start_node(
        tmp_path, clock=FakeClock(), federation_enabled=True, federation_insecure=True, **settings
    )
    harness = await anext(nodes)
    try:
        yield harness
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await anext(nodes)


async def _fill(client: httpx.AsyncClient) -> None:
    """A bit of everything a node stores."""
    for i in range(30):
        assert (await client.post("/v1/facts", json=fact_body(entity=f"user:{i}"))).status_code
    red = fact_body(entity="user:0", value={"type": "string", "v": "red"}, confidence=0.5)
    assert (await client.post("/v1/facts", json=red)).json()["contradicted"] is True
    retraction = fact_body(entity="user:1", confidence=0.0)
    assert (await client.post("/v1/facts", json=retraction)).status_code == 201
    batch = {"facts": [fact_body(entity=f"user:b{i}") for i in range(5)], "idempotency_key": "k1"}
    assert (await client.post("/v1/facts/batch", json=batch)).status_code == 200
    garden = {"slug": "g", "name": "G", "scope": "team", "quarantine": True}
    assert (await client.post("/v1/gardens", json=garden)).status_code == 201
    held = fact_body(entity="user:h", scope="team", garden_id="stigmem://x/garden/g")
    assert (await client.post("/v1/facts", json=held)).status_code == 201
    key = {"entity_uri": "agent:ci", "permissions": ["read"]}
    assert (await client.post("/v1/auth/keys", json=key)).status_code == 201
    agent_key = {"public_key": public_b64(Ed25519PrivateKey.generate())}
    assert (await client.post("/v1/auth/agent-keys", json=agent_key)).status_code == 201
    old = fact_body(entity="user:p", scope="public")
    assert (await client.post("/v1/facts", json=old)).status_code == 201
    sweep = await client.post("/v1/decay/sweep", params={"ttl_seconds": 0, "scope": "public"})
    assert sweep.status_code in (200, 202)


def _seed_federation_state(settings: Settings) -> None:
    with pg.RawConnection(settings) as conn:
        conn.execute(
            "INSERT INTO peers (id, node_id, node_url, federation_pubkey, allowed_scopes, status,"
            " declaration_sig, signed_at, created_at) VALUES ('p1', 'stigmem:node:peer',"
            " 'http://127.0.0.1:1', ?, '[\"public\"]', 'active', 'sig', 'now', 'now')",
            (PUBKEY,),
        )
        conn.execute(
            "INSERT INTO replication_cursors (peer_id, direction, cursor, updated_at)"
            " VALUES ('p1', 'inbound', 'opaque-cursor', 'now')"
        )
        conn.execute(
            "INSERT INTO nonce_cache (issuer, nonce, expires_ms) VALUES ('i', 'n', 99999999999999)"
        )
        conn.execute(
            "INSERT INTO jobs (id, type, status, params, created_by, estimated_s, created_at)"
            " VALUES ('j1', 'lint', 'done', '{}', 'agent:admin', 1, 'now')"
        )


def _dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every copied table, in key order, whatever the engine."""
    keys = {"facts": "seq", "conflicts": "seq", "audit_log": "seq", "jobs": "seq"}
    with pg.RawConnection(settings) as conn:
        return {
            table: [
                tuple(r)
                for r in conn.execute(
                    f"SELECT * FROM {table} ORDER BY {keys.get(table, '1, 2')}"
                ).fetchall()
            ]
            for table in TABLES_WITH_ROWS
        }


def _migrate(settings: Settings, url: str) -> Any:
    return CliRunner().invoke(cli, ["migrate", "--to", url, "--db", str(settings.db_path)])


async def test_a_sqlite_node_moves_to_postgresql_losslessly(
    tmp_path: Path, storage: pg.Storage
) -> None:
    sqlite = make_settings(tmp_path, storage=SQLITE)
    async with node(tmp_path, storage=SQLITE) as old, old.client() as client:
        await _fill(client)
        before = (await client.get("/v1/facts", params={"limit": 500})).json()
        well_known = (await client.get("/.well-known/stigmem")).json()
    _seed_federation_state(sqlite)
    url = storage.new_database_url()

    result = _migrate(sqlite, url)
    assert result.exit_code == 0, result.output
    assert "every table verified" in result.output

    source = _dump(sqlite)
    target = Settings(**{**sqlite.model_dump(), "database_url": url})
    copied = _dump(target)
    facts_columns = len(source["facts"][0])
    assert [row[:facts_columns] for row in copied["facts"]] == source["facts"]
    for table in TABLES_WITH_ROWS:
        assert source[table], f"the test wrote nothing into {table}"
        if table != "facts":
            assert copied[table] == source[table], table
    async with node(tmp_path, database_url=url) as moved, moved.client() as client:
        assert (await client.get("/v1/facts", params={"limit": 500})).json() == before
        assert (await client.get("/.well-known/stigmem")).json() == well_known
        new = await client.post("/v1/facts", json=fact_body(entity="user:new"))
        assert new.status_code == 201
        last = max(int(row[0]) for row in source["facts"])
        seq = pg.rows(moved.node.db, "SELECT seq FROM facts WHERE id = ?", (new.json()["id"],))
        assert seq[0][0] > last  # numbering continues after the copied facts
        found = await client.post(
            "/v1/recall", json={"query": "blue", "scope": "company"}
        )  # the full-text index was rebuilt by PostgreSQL itself
        assert found.json()["facts"]


async def test_a_target_that_holds_a_node_is_refused(tmp_path: Path, storage: pg.Storage) -> None:
    sqlite = make_settings(tmp_path, storage=SQLITE)
    async with node(tmp_path, storage=SQLITE) as old, old.client() as client:
        await client.post("/v1/facts", json=fact_body())
    url = storage.new_database_url()
    async with node(tmp_path / "other", database_url=url) as other, other.client() as client:
        await client.post("/v1/facts", json=fact_body(entity="user:other"))
    target = Settings(**{**sqlite.model_dump(), "database_url": url})
    before = _dump(target)
    result = _migrate(sqlite, url)
    assert result.exit_code == 1
    assert "already holds a node (facts is not empty)" in result.output
    assert _dump(target) == before


def test_refusals(tmp_path: Path) -> None:
    missing = CliRunner().invoke(
        cli, ["migrate", "--to", "postgresql://127.0.0.1:1/x", "--db", str(tmp_path / "no.db")]
    )
    assert missing.exit_code == 1
    assert "no SQLite database at" in missing.output
    sqlite = tmp_path / "a.db"
    sqlite.write_bytes(b"")
    closed = CliRunner().invoke(
        cli, ["migrate", "--to", "postgresql://u:secret@127.0.0.1:1/x", "--db", str(sqlite)]
    )
    assert closed.exit_code == 1
    assert "cannot open PostgreSQL postgresql://u:***@127.0.0.1:1/x" in closed.output
    assert "secret" not in closed.output
    wrong = CliRunner().invoke(cli, ["migrate", "--to", "mysql://x", "--db", "a.db"])
    assert wrong.exit_code == 2
    assert "must be a postgresql:// URL" in wrong.output
