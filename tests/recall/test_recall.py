"""POST /v1/recall: shape, scoring, packing, liveness and ACL before scoring, bad input."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.clock import FakeClock
from tests.conftest import NodeHarness, start_node
from tests.decay.support import counts, mint, put, ref

DAY = 86_400


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for harness in start_node(tmp_path, clock=FakeClock()):
        yield harness


@pytest.fixture
async def admin(h: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with h.client() as c:
        yield c


def text(v: str) -> dict[str, str]:
    return {"type": "text", "v": v}


async def recall(client: httpx.AsyncClient, query: str, **body: Any) -> dict[str, Any]:
    got = await client.post("/v1/recall", json={"query": query, "scope": "company", **body})
    assert got.status_code == 200, got.text
    assert got.headers["X-Total-Count"] == str(got.json()["total_scored"])
    return dict(got.json())


def ids(body: dict[str, Any]) -> list[str]:
    return [item["fact"]["id"] for item in body["facts"]]


async def test_a_fresh_full_match(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    fact = await put(admin, entity="user:alice", relation="memory:role",
                     value=text("primary engineer on the atlas project"))  # fmt: skip
    body = await recall(admin, "atlas project engineer", include_neighbors=False)
    uuid.UUID(body["recall_id"])
    assert body["query_hash"] == hashlib.sha256(b"atlas project engineer").hexdigest()
    [item] = body["facts"]
    assert item["fact"] == (await admin.get(f"/v1/facts/{fact['id']}")).json()
    assert item["score"] == 0.611111
    assert item["score_breakdown"] == {
        "lexical": 1.0, "semantic": 0.0, "graph": 1.0, "source_trust": 0.0,
        "recency": 1.0, "weighted_total": 0.611111,
    }  # fmt: skip
    estimate = len("user:alice memory:role primary engineer on the atlas project agent:bot") // 4
    assert (item["token_estimate"], item["hop_distance"], item["from_card"]) == (estimate, 0, False)
    assert body["content"] == body["facts"]
    assert body["instructions"] == []
    assert (body["total_scored"], body["token_budget"], body["tokens_used"]) == (1, 4000, estimate)
    assert body["truncated"] is False
    assert body["tombstone_notices"] == []
    assert body["chain_proof"] is None


async def test_no_match_is_empty(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, entity="user:alice", value=text("entity token of no interest"))
    body = await recall(admin, "zzz-no-such-entity-xyz-nonexistent-token-abc")
    assert (body["facts"], body["total_scored"], body["tokens_used"]) == ([], 0, 0)
    assert body["truncated"] is False


async def test_instructions_and_legacy_format(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    note = await put(admin, entity="agent:helper", relation="memory:note",
                     value=text("deploy window is friday"))  # fmt: skip
    rule = await put(admin, entity="agent:helper", relation="policy:deploy",
                     value={"type": "text", "v": "never deploy on friday",
                            "interpret_as": "instruction"})  # fmt: skip
    body = await recall(admin, "deploy friday")
    assert [i["fact"]["id"] for i in body["content"]] == [note["id"]]
    assert [i["fact"]["id"] for i in body["instructions"]] == [rule["id"]]
    legacy = await admin.post(
        "/v1/recall", params={"legacy_format": "true"},
        json={"query": "deploy friday", "scope": "company"},
    )  # fmt: skip
    assert "content" not in legacy.json()
    assert "instructions" not in legacy.json()
    assert len(legacy.json()["facts"]) == 2


async def test_dead_facts_are_never_recalled(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    live = await put(admin, entity="user:a", value=text("zebra crossing alpha"))
    await put(admin, entity="user:b", value=text("zebra crossing beta"),
              valid_until="2025-01-01T00:00:00Z")  # fmt: skip
    await put(admin, entity="user:c", value=text("zebra crossing gamma"))
    await put(admin, entity="user:c", value=text("zebra crossing gamma"), confidence=0.0)
    await put(admin, entity="user:d", value=text("zebra crossing delta"), confidence=0.05)
    decayed = await put(admin, entity="user:e", value=text("zebra crossing epsilon"))
    await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0, "scope": "company"})
    assert decayed["id"] not in ids(await recall(admin, "zebra crossing"))
    assert live["id"] not in ids(await recall(admin, "zebra crossing"))  # decayed too
    fresh = await put(admin, entity="user:f", value=text("zebra crossing zeta"))
    assert ids(await recall(admin, "zebra crossing")) == [fresh["id"]]


async def test_min_confidence_and_scope(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    weak = await put(admin, entity="user:a", value=text("quokka sighting"), confidence=0.3)
    other = await put(admin, entity="user:b", value=text("quokka sighting"), scope="team")
    assert ids(await recall(admin, "quokka")) == [weak["id"]]
    assert ids(await recall(admin, "quokka", min_confidence=0.5)) == []
    assert ids(await recall(admin, "quokka", scope="team")) == [other["id"]]


async def test_contradictions(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    loser = await put(admin, entity="user:a", relation="pref:drink", value=text("green tea"),
                      confidence=0.5)  # fmt: skip
    winner = await put(admin, entity="user:a", relation="pref:drink", value=text("black tea"))
    body = await recall(admin, "tea", include_neighbors=False)
    assert ids(body) == [winner["id"]]
    [item] = body["facts"]
    assert item["fact"]["contradicted"] is True
    assert item["score"] == round(item["score_breakdown"]["weighted_total"] * 0.7, 6)
    assert loser["id"] not in ids(body)


async def test_token_budget_packing(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    for n in range(3):
        await put(admin, entity=f"user:u{n}", value=text(f"walrus fact number {n}"))
    full = await recall(admin, "walrus")
    each = full["facts"][0]["token_estimate"]
    assert len(full["facts"]) == 3
    tight = await recall(admin, "walrus", token_budget=2 * each)
    assert len(tight["facts"]) == 2
    assert tight["tokens_used"] == 2 * each
    assert tight["truncated"] is True
    nothing = await recall(admin, "walrus", token_budget=1)
    assert (nothing["facts"], nothing["tokens_used"]) == ([], 0)


async def test_packing_spreads_across_entities(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    for n in range(4):
        await put(admin, entity="user:loud", relation=f"note:n{n}",
                  value=text("narwhal narwhal report"))  # fmt: skip
    quiet = await put(admin, entity="user:quiet", relation="note:n0",
                      value=text("narwhal report with many more other words in it"))  # fmt: skip
    body = await recall(admin, "narwhal report", include_neighbors=False)
    each = body["facts"][0]["token_estimate"]
    ranked = ids(body)
    assert ranked.index(quiet["id"]) < 4  # not last, though it scores lowest
    packed = await recall(admin, "narwhal report", include_neighbors=False,
                          token_budget=3 * each + 2)  # fmt: skip
    assert quiet["id"] in ids(packed)


async def test_recency_breaks_ties(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    assert h.clock is not None
    old = await put(admin, entity="user:old", value=text("ocelot"))
    h.clock.advance(60 * DAY)
    new = await put(admin, entity="user:new", value=text("ocelot"))
    body = await recall(admin, "ocelot")
    assert ids(body) == [new["id"], old["id"]]
    assert body["facts"][1]["score_breakdown"]["recency"] == round(pow(2.718281828459045, -0.6), 6)


async def test_graph_neighbours_join_the_answer(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    hit = await put(admin, entity="proj:atlas", relation="proj:summary",
                    value=text("internal search engine"))  # fmt: skip
    edge = await put(admin, **ref("proj:atlas", "user:alice", relation="proj:owner"))
    sibling = await put(admin, entity="user:alice", relation="contact:email",
                        value={"type": "string", "v": "alice@example.com"})  # fmt: skip
    far = await put(admin, entity="user:zed", relation="contact:email",
                    value={"type": "string", "v": "zed@example.com"})  # fmt: skip
    body = await recall(admin, "search engine", depth=1)
    hops = {item["fact"]["id"]: item["hop_distance"] for item in body["facts"]}
    assert hops == {hit["id"]: 0, edge["id"]: 0, sibling["id"]: 1}
    assert body["facts"][0]["fact"]["id"] == hit["id"]
    assert far["id"] not in hops
    alone = await recall(admin, "search engine", include_neighbors=False)
    assert ids(alone) == [hit["id"]]


async def test_garden_facts_are_scored_only_for_members(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    owner = await mint(admin, "user:owner", ["read", "write"])
    outsider = await mint(admin, "user:outsider", ["read"])
    async with h.client(owner) as o, h.client(outsider) as x:
        made = await o.post("/v1/gardens", json={"slug": "atlas", "name": "A", "scope": "team"})
        assert made.status_code == 201, made.text
        secret = await put(o, entity="proj:x", value=text("pelican launch plan"), scope="team",
                           garden_id="stigmem://n/garden/atlas")  # fmt: skip
        public = await put(o, entity="proj:y", value=text("pelican"), scope="team")
        await put(o, **ref("proj:y", "proj:x"), scope="team")
        mine = await recall(o, "pelican launch", scope="team")
        theirs = await recall(x, "pelican launch", scope="team")
    assert secret["id"] in ids(mine)
    assert secret["id"] not in ids(theirs)
    assert public["id"] in ids(theirs)
    assert all(item["fact"]["garden_id"] is None for item in theirs["facts"])


async def test_odd_queries_are_plain_words(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    fact = await put(admin, entity="user:a", value=text("entity near the gazebo"))
    for query in ('"gazebo', "gazebo*", "entity: gazebo", "NEAR(gazebo)", "NOT gazebo -x",
                  "the", "ünïcödé gazébo", "_"):  # fmt: skip
        body = await recall(admin, query)
        assert body["facts"] == [] or ids(body) == [fact["id"]], query
    assert ids(await recall(admin, "GAZÉBOS")) == [fact["id"]]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"scope": "galaxy"}, 400,
         "invalid_scope: scope must be one of local, team, company, public"),
        ({"as_of": "2020-01-01T00:00:00Z"}, 501, {"code": "time_travel_plugin_not_loaded",
         "message": "as_of queries are not available on this node yet"}),
        ({"weights": {"lexical": 0, "semantic": 0, "graph": 0, "recency": 0}}, 400,
         {"code": "invalid_weights",
          "message": "at least one of lexical, semantic, graph and recency must be above 0"}),
        ({"query": ""}, 422, "string_too_short"),
        ({"query": None}, 422, "string_type"),
        ({"query": "x" * 4097}, 422, "string_too_long"),
        ({"token_budget": 0}, 422, "greater_than_equal"),
        ({"token_budget": 200_001}, 422, "less_than_equal"),
        ({"depth": 4}, 422, "less_than_equal"),
        ({"limit": 501}, 422, "less_than_equal"),
        ({"min_confidence": -0.1}, 422, "greater_than_equal"),
        ({"weights": {"lexical": 2}}, 422, "less_than_equal"),
    ],
)  # fmt: skip
async def test_bad_requests(
    h: NodeHarness, admin: httpx.AsyncClient, body: dict[str, Any], status: int, detail: Any
) -> None:
    before = await counts(h)
    got = await admin.post("/v1/recall", json={"query": "anything", **body})
    assert got.status_code == status, got.text
    found = got.json()["detail"]
    assert found[0]["type"] == detail if status == 422 else found == detail
    assert await counts(h) == before


async def test_missing_query_is_422(admin: httpx.AsyncClient) -> None:
    got = await admin.post("/v1/recall", json={"scope": "local", "token_budget": 4000})
    assert got.status_code == 422
    assert got.json()["detail"][0]["loc"] == ["body", "query"]


async def test_recall_needs_read(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    fed = await mint(admin, "user:fed", ["federate"])
    async with h.client(fed) as f:
        got = await f.post("/v1/recall", json={"query": "x", "scope": "galaxy"})
    assert got.status_code == 403
    assert got.json() == {"detail": "read permission required"}
