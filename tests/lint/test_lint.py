"""POST /v1/lint: the five checks, their severities, filters, ACL and deterministic order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.clock import FakeClock
from tests.conftest import NodeHarness, start_node
from tests.decay.support import counts, mint, put, ref

HOUR = 3600


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for harness in start_node(tmp_path, clock=FakeClock()):
        yield harness


@pytest.fixture
async def admin(h: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with h.client() as c:
        yield c


async def lint(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    got = await client.post("/v1/lint", json={"scope": "company", **body})
    assert got.status_code == 200, got.text
    return dict(got.json())


def shape(findings: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None]]:
    return [(f["check"], f["severity"], f["entity"], f["relation"]) for f in findings]


async def test_clean_scope_has_no_findings(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, entity="user:a")
    result = await lint(admin)
    assert result["findings"] == []
    assert result["fact_count"] == 1
    assert (result["finding_count"], result["findings_truncated"]) == (0, False)
    assert result["scope"] == "company"
    assert result["checked_at"] == "2026-01-01T00:00:00.000000+00:00"
    assert result["checks_run"] == [
        "contradiction", "stale", "orphan", "broken_ref", "namespacing",
    ]  # fmt: skip


async def test_contradiction_is_an_error(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    blue = await put(admin, entity="user:a", value={"type": "string", "v": "blue"})
    red = await put(admin, entity="user:a", value={"type": "string", "v": "red"})
    [item] = (await lint(admin, checks=["contradiction"]))["findings"]
    assert (item["check"], item["severity"], item["entity"], item["relation"]) == (
        "contradiction", "error", "user:a", "pref:color",
    )  # fmt: skip
    assert item["fact_ids"] == sorted([blue["id"], red["id"]])
    assert "'blue'" in item["detail"]
    assert "'red'" in item["detail"]


async def test_stale_expired_warns_and_lookahead_informs(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    assert h.clock is not None
    gone = await put(admin, entity="user:gone", valid_until="2026-01-01T01:00:00Z")
    soon = await put(admin, entity="user:soon", valid_until="2026-01-01T05:00:00Z")
    await put(admin, entity="user:later", valid_until="2026-02-01T00:00:00Z")
    h.clock.advance(2 * HOUR)

    plain = (await lint(admin, checks=["stale"]))["findings"]
    assert [(f["severity"], f["fact_ids"]) for f in plain] == [("warning", [gone["id"]])]

    ahead = (await lint(admin, checks=["stale"], stale_lookahead_s=4 * HOUR))["findings"]
    assert [(f["severity"], f["fact_ids"]) for f in ahead] == [
        ("warning", [gone["id"]]), ("info", [soon["id"]]),
    ]  # fmt: skip


async def test_orphan_is_info(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    dead = await put(admin, entity="user:dead", valid_until="2025-06-01T00:00:00Z")
    await put(admin, entity="user:alive")
    findings = (await lint(admin, checks=["orphan"]))["findings"]
    assert shape(findings) == [("orphan", "info", "user:dead", None)]
    assert findings[0]["fact_ids"] == [dead["id"]]


async def test_broken_refs_warn_and_intent_routing_errs(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    await put(admin, entity="user:bob")
    await put(admin, **ref("user:alice", "USER:Bob"))  # normalised target exists
    lost = await put(admin, **ref("user:alice", "user:nobody", relation="rel:manager"))
    handoff = await put(admin, **ref("intent:1", "agent:gone", relation="intent:handoff_to"))
    elsewhere = await put(admin, entity="user:carol", scope="team")
    await put(admin, **ref("user:alice", "user:carol", relation="rel:friend"))
    findings = (await lint(admin, checks=["broken_ref"]))["findings"]
    assert shape(findings) == [
        ("broken_ref", "error", "intent:1", "intent:handoff_to"),
        ("broken_ref", "warning", "user:alice", "rel:friend"),
        ("broken_ref", "warning", "user:alice", "rel:manager"),
    ]
    assert findings[0]["fact_ids"] == [handoff["id"]]
    assert findings[2]["fact_ids"] == [lost["id"]]
    assert elsewhere["scope"] == "team"  # in another scope, so it does not count


async def test_bare_relation_warns(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    one = await put(admin, entity="user:a", relation="likes")
    two = await put(admin, entity="user:a", relation="likes", value={"type": "string", "v": "x"})
    findings = (await lint(admin, checks=["namespacing", "orphan"]))["findings"]
    assert shape(findings) == [("namespacing", "warning", "user:a", "likes")]
    assert findings[0]["fact_ids"] == sorted([one["id"], two["id"]])


async def test_findings_are_ordered_and_repeatable(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    await put(admin, entity="user:z", relation="bare")
    await put(admin, entity="user:b", value={"type": "string", "v": "1"})
    await put(admin, entity="user:b", value={"type": "string", "v": "2"})
    await put(admin, entity="user:a", valid_until="2025-01-01T00:00:00Z")
    await put(admin, **ref("user:m", "user:none"))
    first = await lint(admin)
    assert shape(first["findings"]) == [
        ("contradiction", "error", "user:b", "pref:color"),
        ("stale", "warning", "user:a", "pref:color"),
        ("broken_ref", "warning", "user:m", "rel:knows"),
        ("namespacing", "warning", "user:z", "bare"),
        ("orphan", "info", "user:a", None),
    ]
    assert (await lint(admin))["findings"] == first["findings"]


async def test_filters(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, entity="User:A", relation="bare")
    await put(admin, entity="user:b", relation="bare")
    await put(admin, entity="user:a", relation="ok:rel")
    only_a = await lint(admin, entity="USER:a")
    assert shape(only_a["findings"]) == [("namespacing", "warning", "user:a", "bare")]
    assert only_a["fact_count"] == 2
    only_rel = await lint(admin, relation="ok:rel")
    assert only_rel["findings"] == []
    assert only_rel["fact_count"] == 1
    team = await lint(admin, scope="team")
    assert team["fact_count"] == 0


async def test_lint_never_reports_garden_facts_to_outsiders(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    owner = await mint(admin, "user:owner", ["read", "write"])
    outsider = await mint(admin, "user:outsider", ["read"])
    async with h.client(owner) as o, h.client(outsider) as x:
        made = await o.post("/v1/gardens", json={"slug": "atlas", "name": "A", "scope": "team"})
        assert made.status_code == 201, made.text
        await put(o, entity="proj:secret", relation="bare", scope="team",
                  garden_id="stigmem://n/garden/atlas")  # fmt: skip
        mine = await lint(o, scope="team")
        theirs = await lint(x, scope="team")
    assert shape(mine["findings"]) == [("namespacing", "warning", "proj:secret", "bare")]
    assert theirs == {**theirs, "findings": [], "fact_count": 0}


async def test_lint_writes_nothing(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, entity="user:a", relation="bare", valid_until="2025-01-01T00:00:00Z")
    before = await counts(h)
    await lint(admin)
    assert await counts(h) == before


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"scope": "galaxy"}, 400, "scope must be one of {'local', 'team', 'company', 'public'}"),
        ({}, 422, "missing"),
        ({"scope": "team", "checks": ["spelling"]}, 422, "literal_error"),
        ({"scope": "team", "stale_lookahead_s": -1}, 422, "greater_than_equal"),
        (
            {"scope": "team", "entity": "   "},
            400,
            "invalid_entity_uri: entity URI must not be empty",
        ),
    ],
)
async def test_bad_requests(
    h: NodeHarness, admin: httpx.AsyncClient, body: dict[str, Any], status: int, detail: str
) -> None:
    before = await counts(h)
    got = await admin.post("/v1/lint", json=body)
    assert got.status_code == status, got.text
    found = got.json()["detail"]
    assert found == detail if status == 400 else found[0]["type"] == detail
    assert await counts(h) == before


async def test_lint_needs_read(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    fed = await mint(admin, "user:fed", ["federate"])
    async with h.client(fed) as f:
        got = await f.post("/v1/lint", json={"scope": "galaxy"})
    assert got.status_code == 403
    assert got.json() == {"detail": "read permission required"}


async def test_huge_lookahead_is_fine(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    expiring = await put(admin, entity="user:a", valid_until="2900-01-01T00:00:00Z")
    findings = (await lint(admin, checks=["stale"], stale_lookahead_s=10**15))["findings"]
    assert [f["fact_ids"] for f in findings] == [[expiring["id"]]]


async def test_findings_are_capped_most_severe_first(
    h: NodeHarness, admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stigmem_node.lint import service

    monkeypatch.setattr(service, "MAX_FINDINGS", 2)
    h.node.lint.entity_batch = 1
    for n in range(4):
        await put(admin, entity=f"user:b{n}", relation="bare")
    await put(admin, entity="user:z", value={"type": "string", "v": "1"})
    await put(admin, entity="user:z", value={"type": "string", "v": "2"})
    result = await lint(admin)
    assert shape(result["findings"]) == [
        ("contradiction", "error", "user:z", "pref:color"),
        ("namespacing", "warning", "user:b0", "bare"),
    ]
    assert result["finding_count"] == 5
    assert result["findings_truncated"] is True
