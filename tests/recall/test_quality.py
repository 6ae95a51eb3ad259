"""Recall quality on a small team memory: the facts that answer a question rank in the top 5."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.clock import FakeClock
from tests.conftest import NodeHarness, start_node
from tests.decay.support import put

DAY = 86_400

# (key, entity, relation, value type, value). Keys name the facts the questions expect.
CORPUS: list[tuple[str, str, str, str, str]] = [
    ("alice_role", "user:alice", "org:role", "text", "staff engineer on the atlas search project"),
    ("alice_coffee", "user:alice", "pref:drink", "text", "dark roast coffee, no sugar"),
    ("alice_office", "user:alice", "org:location", "string", "Lisbon office"),
    ("alice_email", "user:alice", "contact:email", "string", "alice@example.com"),
    ("bob_role", "user:bob", "org:role", "text", "product manager for billing and invoices"),
    ("bob_hobby", "user:bob", "pref:hobby", "text", "hiking in the Alps every summer"),
    ("bob_works", "user:bob", "org:works_with", "ref", "user:alice"),
    (
        "carol_role",
        "user:carol",
        "org:role",
        "text",
        "data scientist building churn prediction models",
    ),
    ("carol_langs", "user:carol", "pref:languages", "text", "speaks Portuguese and English"),
    ("dave_role", "user:dave", "org:role", "text", "site reliability engineer"),
    ("dave_oncall", "user:dave", "ops:oncall", "text", "weekly pager rotation, handoff on mondays"),
    (
        "atlas_desc",
        "proj:atlas",
        "proj:summary",
        "text",
        "full-text search engine for internal documents",
    ),
    ("atlas_owner", "proj:atlas", "proj:owner", "ref", "user:alice"),
    ("atlas_stack", "proj:atlas", "proj:stack", "text", "written in Rust on top of PostgreSQL"),
    ("atlas_status", "proj:atlas", "proj:status", "string", "beta since March"),
    (
        "billing_desc",
        "proj:billing",
        "proj:summary",
        "text",
        "invoices, payments and subscriptions",
    ),
    ("billing_owner", "proj:billing", "proj:owner", "ref", "user:bob"),
    (
        "billing_incident",
        "proj:billing",
        "ops:incident",
        "text",
        "duplicate payments charged after the march deploy; refunds issued",
    ),
    ("office_wifi", "place:lisbon-office", "facility:wifi", "string", "network stigmem-guest"),
    ("deploy_rule", "team:platform", "policy:deploy", "text", "no production deploys on fridays"),
]
# Noise: plausible facts sharing words with the questions.
NOISE = [
    (f"user:n{n}", rel, "text", value)
    for n, (rel, value) in enumerate(
        [
            ("pref:drink", "green tea in the morning"),
            ("pref:drink", "sparkling water"),
            ("org:role", "engineer on the mobile app"),
            ("org:role", "designer for the search page redesign"),
            ("org:role", "project coordinator"),
            ("pref:hobby", "reading science fiction"),
            ("org:location", "Berlin office"),
            ("org:location", "remote, Porto"),
            ("ops:note", "internal documents moved to the new wiki"),
            ("ops:note", "payments dashboard is slow on mondays"),
            ("pref:food", "prefers sushi for team lunches"),
            ("org:role", "manager of the data platform"),
            ("ops:note", "the project board is in the wiki"),
            ("pref:drink", "decaf coffee after lunch"),
            ("org:role", "intern on billing"),
        ]
    )
]

QUESTIONS: list[tuple[str, set[str]]] = [
    ("who works on the atlas project?", {"alice_role", "atlas_owner"}),
    ("what coffee does alice drink", {"alice_coffee"}),
    ("billing payments incident", {"billing_incident"}),
    ("who builds churn prediction models", {"carol_role"}),
    ("search engine for documents", {"atlas_desc"}),
    ("what languages does carol speak", {"carol_langs"}),
    ("when is the pager handoff", {"dave_oncall"}),
    ("atlas technology stack rust", {"atlas_stack"}),
    ("can we deploy on friday", {"deploy_rule"}),
    ("where is alice's office", {"alice_office"}),
]


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    clock = FakeClock()
    async for h in start_node(tmp_path, clock=clock):
        async with h.client() as admin:
            yield admin, await _load(h, admin, clock)


async def _load(h: NodeHarness, admin: httpx.AsyncClient, clock: FakeClock) -> dict[str, str]:
    keys: dict[str, str] = {}
    for entity, relation, kind, value in NOISE:
        await put(admin, entity=entity, relation=relation, value={"type": kind, "v": value})
    clock.advance(DAY)
    for key, entity, relation, kind, value in CORPUS:
        fact = await put(admin, entity=entity, relation=relation, value={"type": kind, "v": value})
        keys[fact["id"]] = key
    return keys


async def _top(client: httpx.AsyncClient, keys: dict[str, str], query: str) -> list[Any]:
    got = await client.post("/v1/recall", json={"query": query, "scope": "company"})
    assert got.status_code == 200, got.text
    return [keys.get(item["fact"]["id"], "noise") for item in got.json()["facts"][:5]]


@pytest.mark.parametrize(("question", "wanted"), QUESTIONS)
async def test_relevant_facts_rank_in_the_top_five(
    memory: tuple[httpx.AsyncClient, dict[str, str]], question: str, wanted: set[str]
) -> None:
    client, keys = memory
    top = await _top(client, keys, question)
    assert wanted <= set(top), (question, top)


async def test_the_graph_brings_the_owner(memory: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, keys = memory
    got = await client.post(
        "/v1/recall", json={"query": "rust and postgresql", "scope": "company", "depth": 1}
    )
    found = {keys.get(i["fact"]["id"]): i["hop_distance"] for i in got.json()["facts"]}
    assert found["atlas_stack"] == 0
    assert found["atlas_owner"] == 0  # the matched entity's other facts
    assert found["alice_coffee"] == 1  # the owner's facts, one ref hop away
    assert "carol_role" not in found
