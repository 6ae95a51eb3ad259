"""``stigmem facts|recall|conflicts`` against a real node process (the CLI speaks HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stigmem_node.cli import main
from tests.process import NodeProcess, free_port

pytestmark = pytest.mark.process  # starts a real stigmem-node process


@pytest.fixture
def run(node: NodeProcess) -> Any:
    """Run ``stigmem ARGS`` with STIGMEM_URL / STIGMEM_API_KEY pointing at the node."""

    def invoke(*args: str, key: str | None = node.admin_key, ok: bool = True) -> Result:
        env = {"STIGMEM_URL": node.base_url, "STIGMEM_API_KEY": key}
        result = CliRunner().invoke(main, list(args), env=env)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_assert_query_get_retract_as_tables(run: Any, unique: str) -> None:
    made = run("facts", "assert", unique, "pref:color", "blue", "--scope", "team")
    assert made.output.splitlines()[0].split() == [
        "ID", "ENTITY", "RELATION", "VALUE", "CONFIDENCE", "SCOPE", "SOURCE",
    ]  # fmt: skip
    row = made.output.splitlines()[1].split()
    fact_id = row[0]
    assert row[1:] == [unique, "pref:color", "blue", "1", "team", "agent:cli"]

    listed = run("facts", "query", "--entity", unique)
    assert fact_id in listed.output
    shown = run("facts", "get", fact_id)
    assert "'blue' (string)" in shown.output
    fields = dict(line.split(None, 1) for line in shown.output.splitlines()[1:])
    assert fields["entity"] == unique
    assert fields["cid"].startswith("sha256:")
    assert len(fields["cid"]) == len("sha256:") + 64

    gone = run("facts", "retract", fact_id)
    assert gone.output.startswith(f"retracted {fact_id}")
    after = run("facts", "query", "--entity", unique).output
    assert fact_id not in after  # only the retraction itself (confidence 0) is listed
    assert after.splitlines()[1].split()[4] == "0"


def test_json_output_and_typed_values(run: Any, unique: str) -> None:
    made = json.loads(
        run("facts", "assert", unique, "n:x", "42", "--type", "number", "--json").output
    )
    assert made["value"] == {"type": "number", "v": 42, "interpret_as": "content"}
    flag = json.loads(
        run("facts", "assert", unique, "n:y", "TRUE", "--type", "boolean", "--json").output
    )
    assert flag["value"]["v"] is True
    got = json.loads(run("facts", "get", made["cid"], "--json").output)
    assert got["id"] == made["id"]
    page = json.loads(run("facts", "query", "--entity", unique, "--json").output)
    assert page["total"] == 2
    assert sorted(f["relation"] for f in page["facts"]) == ["n:x", "n:y"]


def test_query_pages_and_all(run: Any, unique: str) -> None:
    for i in range(5):
        run("facts", "assert", unique, f"item:n{i}", str(i))
    first = run("facts", "query", "--entity", unique, "--limit", "2")
    assert "2 of 5; next page: --cursor " in first.output
    everything = json.loads(
        run("facts", "query", "--entity", unique, "--limit", "2", "--all", "--json").output
    )
    assert len(everything["facts"]) == 5


def test_conflicts_list_and_resolve(run: Any, unique: str) -> None:
    blue = json.loads(run("facts", "assert", unique, "pref:c", "blue", "--json").output)
    run("facts", "assert", unique, "pref:c", "red", "--source", "agent:b")
    page = json.loads(run("conflicts", "list", "--status", "unresolved", "--limit", "500",
                          "--json").output)  # fmt: skip
    conflict = next(c for c in page["conflicts"] if c["fact_a"]["entity"] == unique)
    table = run("conflicts", "list", "--limit", "500").output
    assert conflict["conflict_id"] in table
    done = run("conflicts", "resolve", conflict["conflict_id"], "--winner", blue["id"])
    assert done.output.startswith(f"{conflict['conflict_id']}: resolved (fact ")
    again = run("conflicts", "resolve", conflict["conflict_id"], "--winner", blue["id"], ok=False)
    assert again.exit_code == 1
    assert "HTTP 409: conflict already resolved" in again.output


def test_bad_input_exits_with_a_message_and_writes_nothing(run: Any, unique: str) -> None:
    not_number = run("facts", "assert", unique, "n:x", "many", "--type", "number", ok=False)
    assert not_number.exit_code == 2
    assert "'many' is not a number" in not_number.output
    refused = run("facts", "assert", unique, "n:x", "v", "--valid-until", "tomorrow", ok=False)
    assert refused.exit_code == 1
    assert "HTTP 422: valid_until: " in refused.output
    both = run("conflicts", "resolve", "stigmem:conflict:x", ok=False)
    assert "give exactly one of --winner or --value" in both.output
    assert run("facts", "query", "--entity", unique).output.strip() == "no facts"


def test_auth_and_connection_failures(run: Any, node: NodeProcess, unique: str) -> None:
    bad_key = run("facts", "query", "--entity", unique, key="wrong-0123456789abcdef0123456789",
                  ok=False)  # fmt: skip
    assert bad_key.exit_code == 1
    assert "HTTP 401: Invalid or expired API key" in bad_key.output
    down = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["facts", "get", "x", "--url", down])
    assert result.exit_code == 1
    assert f"cannot reach the Stigmem node at {down}" in result.output
    flags = CliRunner().invoke(
        main, ["facts", "query", "--entity", unique, "--url", node.base_url,
               "--api-key", node.admin_key],
    )  # fmt: skip
    assert flags.exit_code == 0, flags.output
    assert flags.output.strip() == "no facts"


def test_recall_command(run: Any, unique: str) -> None:
    run("facts", "assert", unique, "note:x", "wombat lasagne")
    found = run("recall", "wombat lasagne")
    assert found.output.splitlines()[0].split()[:2] == ["SCORE", "ID"]
    assert unique in found.output
