"""``stigmem auth bootstrap-key`` and ``stigmem keys create/list/revoke`` on a real database."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from stigmem_node.cli import main
from tests.conftest import cli_env, start_node
from tests.facts.support import count_rows

KEY = "cli-bootstrap-key-0123456789abcdefghijkl"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_bootstrap_key_exit_codes(db: str) -> None:
    code, out = run("auth", "bootstrap-key", "--db", db)
    assert code == 2
    assert "at least 16 characters" in out
    assert run("auth", "bootstrap-key", "--key", "short", "--db", db)[0] == 2
    code, out = run("auth", "bootstrap-key", "--key", KEY, "--db", db)
    assert code == 0, out
    assert "agent:admin" in out
    assert KEY not in out
    code, out = run("auth", "bootstrap-key", "--key", KEY + "-again", "--db", db)
    assert code == 1
    assert "already exist" in out
    assert count_rows(Path(db), "api_keys") == 1


def test_bootstrap_key_from_environment(db: str) -> None:
    code, _ = run("auth", "bootstrap-key", "--db", db, env={"STIGMEM_BOOTSTRAP_KEY": KEY})
    assert code == 0
    assert count_rows(Path(db), "api_keys") == 1


async def test_bootstrapped_key_works_against_the_node(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    env = cli_env(tmp_path, db_path=db)
    assert run("auth", "bootstrap-key", "--key", KEY, "--db", str(db), env=env)[0] == 0
    async for node in start_node(tmp_path, db_path=db, bootstrap_key=""):
        assert not (tmp_path / "admin.key").exists()  # the store was not empty
        async with node.client(KEY) as c:
            me = (await c.get("/v1/me")).json()
        assert me["permissions"] == ["admin", "read", "write"]


def test_keys_create_list_revoke(db: str) -> None:
    code, out = run("keys", "create", "--entity-uri", "agent:ci", "--permissions",
                    "read,admin:federation", "--description", "ci", "--db", db)  # fmt: skip
    assert code == 0, out
    created = orjson.loads(out)
    assert created["entity_uri"] == "agent:ci"
    assert len(created["raw_key"]) >= 32
    code, out = run("keys", "list", "--db", db)
    assert code == 0
    listed = [orjson.loads(line) for line in out.splitlines()]
    assert [(k["id"], k["permissions"]) for k in listed] == [
        (created["id"], ["admin:federation", "read"])
    ]
    assert created["raw_key"] not in out
    code, out = run("keys", "revoke", created["id"], "--db", db)
    assert code == 0
    assert created["id"] in out
    assert run("keys", "list", "--db", db)[1] == ""
    code, out = run("keys", "revoke", created["id"], "--db", db)
    assert code == 1
    assert "Key not found" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--permissions", "read,root"], "unknown permission(s): root"),
        (["--permissions", ","], "permissions must not be empty"),
        (["--expires-at", "soon"], ""),
        (["--key", "x" * 40, "--expires-at", "2999-01-01"], "maximum key age"),
    ],
)
def test_keys_create_errors(db: str, args: list[str], message: str) -> None:
    code, out = run("keys", "create", "--entity-uri", "agent:ci", *args, "--db", db)
    assert code == 1
    assert message in out
    assert count_rows(Path(db), "api_keys") == 0


async def test_cli_key_works_against_the_node(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    env = cli_env(tmp_path, db_path=db)
    code, out = run("keys", "create", "--entity-uri", "agent:ops", "--db", str(db), env=env)
    assert code == 0
    raw = orjson.loads(out)["raw_key"]
    async for node in start_node(tmp_path, db_path=db, bootstrap_key=""):
        async with node.client(raw) as c:
            assert (await c.get("/v1/me")).json()["entity_uri"] == "agent:ops"
