"""``stigmem mcp`` over stdio, driven by the MCP SDK's client against a real node process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from tests.mcp.conftest import McpSession
from tests.process import NodeProcess, free_port

pytestmark = pytest.mark.process  # starts a real stigmem-node process

TOOLS = {
    "assert_fact",
    "query_facts",
    "get_fact",
    "retract_fact",
    "recall",
    "list_conflicts",
    "resolve_conflict",
    "lint_scope",
}


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call_ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert isinstance(data, dict)
    assert json.loads(text_of(result)) == data
    return data


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return text_of(result)


async def test_initialise_and_list_tools(mcp_session: McpSession) -> None:
    async with mcp_session() as client:
        assert client.server_info is not None
        assert client.server_info.name == "stigmem"
        assert "contradiction" in (client.instructions or "")
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    schema = tools["assert_fact"].input_schema
    assert schema["required"] == ["entity", "relation", "value"]
    assert schema["properties"]["entity"]["maxLength"] == 2048
    assert schema["properties"]["scope"]["enum"] == ["local", "team", "company", "public"]
    assert schema["properties"]["confidence"]["maximum"] == 1.0
    assert tools["query_facts"].annotations is not None
    assert tools["query_facts"].annotations.read_only_hint is True
    for tool in tools.values():
        assert tool.description


async def test_facts_through_every_core_tool(
    mcp_session: McpSession, node: NodeProcess, unique: str
) -> None:
    with node.client() as http:
        identity = http.get("/v1/me").json()["entity_uri"]
    async with mcp_session() as client:
        made = await call_ok(
            client, "assert_fact", entity=unique, relation="pref:color", value="blue",
            scope="team",
        )  # fmt: skip
        # Attributed to the API key's own identity by default.
        assert (made["entity"], made["value"]["v"], made["source"]) == (unique, "blue", identity)
        number = await call_ok(client, "assert_fact", entity=unique, relation="n:x", value=42)
        assert number["value"] == {"type": "number", "v": 42, "interpret_as": "content"}

        page = await call_ok(client, "query_facts", entity=unique, relation="pref:color")
        assert [f["id"] for f in page["facts"]] == [made["id"]]
        assert page["total"] == 1
        assert (await call_ok(client, "get_fact", fact_id=made["cid"]))["id"] == made["id"]

        red = await call_ok(
            client, "assert_fact", entity=unique, relation="pref:color", value="red",
            scope="team", source="agent:other",
        )  # fmt: skip
        assert red["contradicted"] is True
        conflicts = await call_ok(client, "list_conflicts", limit=500)
        mine = [c for c in conflicts["conflicts"] if c["fact_a"]["entity"] == unique]
        assert len(mine) == 1
        done = await call_ok(
            client, "resolve_conflict", conflict_id=mine[0]["conflict_id"],
            winning_fact_id=made["id"],
        )  # fmt: skip
        assert done["conflict_status"] == "resolved"

        retraction = await call_ok(client, "retract_fact", fact_id=number["id"])
        assert retraction["confidence"] == 0.0
        left = await call_ok(client, "query_facts", entity=unique, relation="n:x")
        assert number["id"] not in [f["id"] for f in left["facts"]]


async def test_json_types_map_to_value_types(mcp_session: McpSession, unique: str) -> None:
    cases = [(True, "boolean"), (False, "boolean"), (1, "number"), (2.5, "number"),
             ("1", "string"), (None, "null")]  # fmt: skip
    async with mcp_session() as client:
        for i, (value, value_type) in enumerate(cases):
            made = await call_ok(
                client, "assert_fact", entity=unique, relation=f"t:{i}", value=value
            )
            assert made["value"]["type"] == value_type, value
            assert made["value"].get("v") == value, value
        ref = await call_ok(
            client, "assert_fact", entity=unique, relation="t:ref", value="stigmem://x/user/b",
            value_type="ref",
        )  # fmt: skip
        assert ref["value"]["type"] == "ref"


async def test_source_can_be_configured(mcp_session: McpSession, unique: str) -> None:
    async with mcp_session(env={"STIGMEM_MCP_SOURCE": "agent:planner"}) as client:
        made = await call_ok(client, "assert_fact", entity=unique, relation="r:x", value=1)
        assert made["source"] == "agent:planner"
        explicit = await call_ok(
            client, "assert_fact", entity=unique, relation="r:y", value=1, source="agent:other"
        )
        assert explicit["source"] == "agent:other"


async def test_resolve_needs_a_winner_or_a_value(mcp_session: McpSession) -> None:
    async with mcp_session() as client:
        text = await call_error(client, "resolve_conflict", conflict_id="stigmem:conflict:x")
        assert "give winning_fact_id or new_value" in text
        missing = await call_error(
            client, "resolve_conflict", conflict_id="stigmem:conflict:x", winning_fact_id="y"
        )
        assert "HTTP 404: conflict not found" in missing


async def test_recall_tool(mcp_session: McpSession, unique: str) -> None:
    async with mcp_session() as client:
        made = await call_ok(
            client, "assert_fact", entity=unique, relation="note:x", value="quokka sandwiches"
        )
        found = await call_ok(client, "recall", query="quokka sandwiches")
    assert made["id"] in [hit["fact"]["id"] for hit in found["facts"]]


async def test_lint_scope_tool(mcp_session: McpSession, unique: str) -> None:
    async with mcp_session() as client:
        await call_ok(client, "assert_fact", entity=unique, relation="bare", value="x")
        report = await call_ok(client, "lint_scope", scope="local", entity=unique)
    assert any(f["check"] == "namespacing" for f in report["findings"])


async def test_bad_arguments_are_tool_errors_and_write_nothing(
    mcp_session: McpSession, unique: str
) -> None:
    async with mcp_session() as client:
        bad = [
            {"entity": unique, "value": "v"},  # no relation
            {"entity": unique, "relation": "r:x", "value": "v", "confidence": 2},
            {"entity": unique, "relation": "r:x", "value": "v", "scope": "galaxy"},
            {"entity": "x" * 3000, "relation": "r:x", "value": "v"},
            {"entity": unique, "relation": "r:x", "value": "v" * 70_000},
            {"entity": unique, "relation": "r:x", "value": "v", "value_type": "number"},
        ]
        for arguments in bad:
            result = await client.call_tool("assert_fact", arguments)
            assert result.is_error, arguments
        text = await call_error(client, "assert_fact", entity=unique, relation="r:x", value=[1])
        assert "value" in text
        refused = await call_error(
            client, "assert_fact", entity=unique, relation="r:x", value="v", value_type="number"
        )
        assert "HTTP 422" in refused
        assert (await call_ok(client, "query_facts", entity=unique))["facts"] == []
        assert "limit" in await call_error(client, "query_facts", limit=10_000)
        unknown = await client.call_tool("drop_database", {})
        assert unknown.is_error
        # The server survived all of it.
        assert len((await client.list_tools()).tools) == len(TOOLS)


async def test_node_down_is_a_tool_error(mcp_session: McpSession, unique: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with mcp_session(url=url) as client:
        text = await call_error(client, "get_fact", fact_id="some-id")
        assert f"cannot reach the Stigmem node at {url}" in text
        assert "STIGMEM_URL" in text
        again = await call_error(client, "assert_fact", entity=unique, relation="r:x", value=1)
        assert "cannot reach" in again


async def test_bad_or_missing_key_is_a_tool_error_naming_the_key(
    mcp_session: McpSession, node: NodeProcess, unique: str
) -> None:
    async with mcp_session(api_key="wrong-key-0123456789abcdef0123456789") as client:
        text = await call_error(client, "query_facts", entity=unique)
    assert "rejected the API key" in text
    assert "Invalid or expired API key" in text
    assert "STIGMEM_API_KEY" in text
    async with mcp_session(api_key=None) as client:
        text = await call_error(client, "assert_fact", entity=unique, relation="r:x", value=1)
    assert "Authorization header required" in text
    with node.client() as http:
        assert http.get("/v1/facts", params={"entity": unique}).json()["facts"] == []
