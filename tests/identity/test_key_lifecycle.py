"""API-key lifecycle: expiry and maximum age on an injected clock, failed-auth audit, CLI."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from stigmem_node.audit.security import SecurityAudit
from stigmem_node.cli import main as cli
from stigmem_node.clock import FakeClock, format_ts
from tests.conftest import NodeHarness, cli_env, start_node
from tests.identity.support import count, events, mint_key, rows

INVALID = {"detail": "Invalid or expired API key"}


async def test_expired_keys_are_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    async for node in start_node(tmp_path, clock=clock):
        async with node.client() as admin:
            soon = format_ts(clock.now() + timedelta(hours=1))
            key = await mint_key(admin, "agent:short", expires_at=soon)
            default = await mint_key(admin, "agent:default")
            too_long = format_ts(clock.now() + timedelta(days=91))
            refused = await admin.post(
                "/v1/auth/keys",
                json={"entity_uri": "agent:x", "permissions": ["read"], "expires_at": too_long},
            )
            assert refused.status_code == 400
            assert refused.json() == {
                "detail": "expires_at is beyond the maximum key age of 90 days"
            }
        async with node.client(key) as short, node.client(default) as normal:
            assert (await short.get("/v1/me")).status_code == 200  # now cached
            clock.advance(3599)
            assert (await short.get("/v1/me")).status_code == 200
            clock.advance(1)
            response = await short.get("/v1/me")
            assert (response.status_code, response.json()) == (401, INVALID)
            assert response.headers["www-authenticate"] == "Bearer"
            clock.advance(90 * 86400 - 3600 - 1)  # the default expiry is the maximum age
            assert (await normal.get("/v1/me")).status_code == 200
            clock.advance(1)
            assert (await normal.get("/v1/me")).status_code == 401


async def test_lowering_max_age_retires_older_keys(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async for node in start_node(tmp_path, clock=FakeClock(start), api_key_max_age_days=0):
        async with node.client() as admin:
            forever = await mint_key(admin, "agent:forever")
        assert rows(node, "SELECT expires_at FROM api_keys WHERE entity_uri = 'agent:forever'") == [
            (None,)
        ]
    later = FakeClock(start + timedelta(days=31))
    async for node in start_node(tmp_path, clock=later, api_key_max_age_days=30):
        async with node.client(forever) as client:
            assert (await client.get("/v1/me")).status_code == 401
    async for node in start_node(tmp_path, clock=later, api_key_max_age_days=60):
        async with node.client(forever) as client:
            assert (await client.get("/v1/me")).status_code == 200


async def test_failed_authentication_is_audited_and_coalesced(harness: NodeHarness) -> None:
    async with harness.client(None) as anonymous:
        assert (await anonymous.get("/v1/facts")).status_code == 401
    async with harness.client("x" * 40) as wrong:
        for _ in range(50):
            response = await wrong.post("/v1/facts", json={})
            assert (response.status_code, response.json()) == (401, INVALID)
    assert count(harness, "facts") == 0
    open_windows = await events(harness, "auth_failed")
    assert [e["detail"]["reason"] for e in open_windows] == ["missing_credentials", "invalid_key"]
    first = open_windows[1]["detail"]
    assert (first["method"], first["path"], first["client"]) == ("POST", "/v1/facts", "127.0.0.1")
    assert "x" * 40 not in str(open_windows)  # the presented credential is never stored
    closed = await events(harness, "auth_failed", close_windows=True)
    assert sum(e["detail"]["occurrences"] for e in closed) == 51
    assert len(closed) == 3


async def test_coalescing_windows_roll_over_and_stay_bounded(harness: NodeHarness) -> None:
    clock = FakeClock()
    sink = SecurityAudit(harness.node.db, clock, window_s=60, max_keys=3)
    for client in range(10):  # ten distinct sources: three windows, then one overflow window
        for _ in range(5):
            sink.record("probe", (f"10.0.0.{client}",), detail={"client": client})
    await sink.flush()
    assert count(harness, "audit_log", "event_type = 'probe'") == 4
    clock.advance(60)
    sink.record("probe", ("10.0.0.1",))  # a new window: summaries of the old ones, then this
    await sink.flush()
    found = await events(harness, "probe")
    assert sum(e["detail"]["occurrences"] for e in found) == 51
    overflow = [e for e in found if e["detail"].get("reason") == "too many distinct sources"]
    assert sum(e["detail"]["occurrences"] for e in overflow) == 35


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


async def test_cli_keys_create_list_revoke(tmp_path: Path) -> None:
    db, env = str(tmp_path / "node.db"), cli_env(tmp_path)
    async for _ in start_node(tmp_path):  # create the database (and its admin key)
        pass
    created = orjson.loads(
        run("keys", "create", "--entity-uri", "agent:ci", "--permissions", "read", "--db", db,
            env=env)
    )  # fmt: skip
    assert len(created["raw_key"]) >= 32
    listed = [orjson.loads(line) for line in run("keys", "list", "--db", db, env=env).splitlines()]
    assert {k["entity_uri"] for k in listed} == {"agent:admin", "agent:ci"}
    assert all(not k["expired"] for k in listed)
    assert "raw_key" not in str(listed)
    only = run("keys", "list", "--entity-uri", "agent:ci", "--db", db, env=env).splitlines()
    assert [orjson.loads(line)["id"] for line in only] == [created["id"]]

    clock = FakeClock()
    async for node in start_node(tmp_path, clock=clock):
        async with node.client(created["raw_key"]) as ci:
            me = (await ci.get("/v1/me")).json()
            assert (me["entity_uri"], me["permissions"]) == ("agent:ci", ["read"])
        assert (
            run("keys", "revoke", created["id"], "--db", db, env=env).strip()
            == f"revoked {created['id']}"
        )
        async with node.client(created["raw_key"]) as ci:
            # Revoked by another process: this one's verified-key cache lasts at most 60 s.
            clock.advance(60)
            assert (await ci.get("/v1/me")).status_code == 401
        [revoked] = await events(node, "api_key_revoked")
        assert (revoked["entity_uri"], revoked["detail"]["key_id"]) == ("system:cli", created["id"])
        [made] = [
            e for e in await events(node, "api_key_created") if e["entity_uri"] == "system:cli"
        ]
        assert made["detail"]["for"] == "agent:ci"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["keys", "revoke", "no-such-id"], 1, "Key not found"),
        (["keys", "create", "--entity-uri", "a:b", "--key", "short"], 2, "32 to 512 characters"),
        (
            ["keys", "create", "--entity-uri", "a:b", "--permissions", "root"],
            1,
            "unknown permission",
        ),
        (
            ["keys", "create", "--entity-uri", "a:b", "--expires-at", "2999-01-01T00:00:00Z"],
            1,
            "maximum key age",
        ),
        (["keys", "create", "--entity-uri", "a:b", "--expires-at", "soon"], 1, "Invalid"),
    ],
)
async def test_cli_refusals_write_nothing(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    async for node in start_node(tmp_path):
        before = (count(node, "api_keys"), count(node, "audit_log"))
    result = CliRunner(env=cli_env(tmp_path)).invoke(
        cli, [*args, "--db", str(tmp_path / "node.db")]
    )
    assert result.exit_code == code, result.output
    assert message in result.output
    async for node in start_node(tmp_path):
        assert (count(node, "api_keys"), count(node, "audit_log")) == before


async def test_keys_list_marks_expired(tmp_path: Path, client: httpx.AsyncClient) -> None:
    past = "2000-01-01T00:00:00Z"
    env = cli_env(tmp_path)
    result = CliRunner(env=env).invoke(
        cli,
        ["keys", "create", "--entity-uri", "agent:old", "--expires-at", past,
         "--db", str(tmp_path / "node.db")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = [
        orjson.loads(line)
        for line in run("keys", "list", "--db", str(tmp_path / "node.db"), env=env).splitlines()
    ]
    assert {k["entity_uri"]: k["expired"] for k in listed} == {
        "agent:admin": False,
        "agent:old": True,
    }


async def test_keys_hashed_with_old_parameters_are_rehashed_on_use(tmp_path: Path) -> None:
    clock = FakeClock()
    raw = "k" * 40
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(raw)
    async for node in start_node(tmp_path, clock=clock):
        key = dataclasses.replace(
            node.node.keys.build_key(raw, "agent:legacy", ["read"]), key_hash=weak
        )
        node.node.keys.insert_sync(key, "test")
        async with node.client(raw) as legacy:
            assert (await legacy.get("/v1/me")).status_code == 200
            [event] = await events(node, "api_key_rehashed")
            assert (event["entity_uri"], event["detail"]["key_id"]) == ("agent:legacy", key.id)
            assert event["detail"]["from"] == "$argon2id$v=19$m=8192,t=1,p=1"
            assert event["detail"]["to"] == "$argon2id$v=19$m=19456,t=2,p=1"
            [(stored,)] = rows(node, "SELECT key_hash FROM api_keys WHERE id = ?", (key.id,))
            assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
            clock.advance(60)  # past the verified-key cache: verified again, not rehashed again
            assert (await legacy.get("/v1/me")).status_code == 200
        assert len(await events(node, "api_key_rehashed")) == 1
