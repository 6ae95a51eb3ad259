"""GET /v1/graph/neighbors: BFS over live ref facts, depth cap, stable cursors, ACL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.clock import FakeClock
from tests.conftest import NodeHarness, start_node
from tests.decay.support import mint, put, ref


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for harness in start_node(tmp_path, clock=FakeClock()):
        yield harness


@pytest.fixture
async def admin(h: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with h.client() as c:
        yield c


async def neighbors(client: httpx.AsyncClient, entity: str, **params: Any) -> dict[str, Any]:
    got = await client.get(
        "/v1/graph/neighbors", params={"entity": entity, "scope": "company", **params}
    )
    assert got.status_code == 200, got.text
    return dict(got.json())


def found(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(n["entity"], n["hops"]) for n in body["neighbors"]]


async def chain(client: httpx.AsyncClient) -> None:
    """a → b → c → d → e, plus a → c (a shortcut) and b → a (a cycle)."""
    for subject, target in (("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("b", "a")):
        await put(client, **ref(f"user:{subject}", f"user:{target}"))
    await put(client, **ref("user:a", "user:c", relation="rel:mentor"), confidence=0.6)


async def test_depths_and_shortest_paths(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await chain(admin)
    one = await neighbors(admin, "USER:A")
    assert one["entity"] == "user:a"
    assert one["depth"] == 1
    assert one["neighbors"] == [
        {"entity": "user:b", "relation": "rel:knows", "hops": 1, "confidence": 1.0,
         "source_trust": None, "path": ["user:a"]},
        {"entity": "user:c", "relation": "rel:mentor", "hops": 1, "confidence": 0.6,
         "source_trust": None, "path": ["user:a"]},
    ]  # fmt: skip
    assert one["next_cursor"] is None
    assert one["total_hint"] == 2
    three = await neighbors(admin, "user:a", depth=3)
    assert found(three) == [("user:b", 1), ("user:c", 1), ("user:d", 2), ("user:e", 3)]
    assert three["neighbors"][3]["path"] == ["user:a", "user:c", "user:d"]


async def test_depth_above_three_is_refused(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    got = await admin.get(
        "/v1/graph/neighbors", params={"entity": "user:a", "scope": "company", "depth": 4}
    )
    assert got.status_code == 400
    assert got.json()["detail"]["code"] == "graph_depth_exceeded"


async def test_filters(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await chain(admin)
    assert found(await neighbors(admin, "user:a", relation_filter="rel:men*")) == [("user:c", 1)]
    assert found(await neighbors(admin, "user:a", relation_filter="rel:knows,other")) == [
        ("user:b", 1)
    ]
    assert found(await neighbors(admin, "user:a", min_confidence=0.9)) == [("user:b", 1)]
    assert found(await neighbors(admin, "user:a", scope="team")) == []


async def test_dead_edges_are_not_traversed(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, **ref("user:a", "user:b"))
    await put(admin, **ref("user:a", "user:c"), valid_until="2025-01-01T00:00:00Z")
    await put(admin, **ref("user:a", "user:d"))
    await put(admin, **ref("user:a", "user:d"), confidence=0.0)  # retracts a → d
    assert found(await neighbors(admin, "user:a")) == [("user:b", 1)]


async def test_unknown_entity_has_no_neighbors(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    body = await neighbors(admin, "user:nobody", depth=3)
    assert body == {"entity": "user:nobody", "depth": 3, "neighbors": [], "next_cursor": None,
                    "total_hint": 0}  # fmt: skip


async def test_pages_never_skip_or_repeat(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    for n in range(5):
        await put(admin, **ref("user:hub", f"user:n{n}"))
    first = await neighbors(admin, "user:hub", page_size=2)
    assert first["total_hint"] == 5
    # New edges after the first page do not shift the pages already promised.
    await put(admin, **ref("user:hub", "user:a-new"))
    seen = found(first)
    cursor = first["next_cursor"]
    while cursor:
        page = await neighbors(admin, "user:hub", page_size=2, cursor=cursor)
        seen += found(page)
        cursor = page["next_cursor"]
    assert seen == [(f"user:n{n}", 1) for n in range(5)]


async def test_cursor_expires(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    assert h.clock is not None
    for n in range(3):
        await put(admin, **ref("user:hub", f"user:n{n}"))
    cursor = (await neighbors(admin, "user:hub", page_size=1))["next_cursor"]
    h.clock.advance(299)
    assert (await neighbors(admin, "user:hub", page_size=1, cursor=cursor))["neighbors"]
    h.clock.advance(2)
    got = await admin.get(
        "/v1/graph/neighbors",
        params={"entity": "user:hub", "scope": "company", "page_size": 1, "cursor": cursor},
    )
    assert got.status_code == 400
    assert got.json()["detail"]["code"] == "cursor_expired"


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"cursor": "eyJvZmZzZXQiOjJ9"}, 400, "invalid_cursor"),  # {"offset":2}
        ({"scope": "galaxy"}, 400, "scope must be one of {'local', 'team', 'company', 'public'}"),
        ({"entity": " "}, 400, "invalid_entity_uri: entity URI must not be empty"),
        ({"depth": 0}, 422, "greater_than_equal"),
        ({"page_size": 201}, 422, "less_than_equal"),
        ({"min_confidence": 2}, 422, "less_than_equal"),
        ({"scope": None}, 422, "missing"),
        ({"entity": None}, 422, "missing"),
    ],
)
async def test_bad_requests(
    admin: httpx.AsyncClient, params: dict[str, Any], status: int, detail: str
) -> None:
    query = {"entity": "user:a", "scope": "company", **params}
    got = await admin.get(
        "/v1/graph/neighbors", params={k: v for k, v in query.items() if v is not None}
    )
    assert got.status_code == status, got.text
    body = got.json()["detail"]
    if status == 422:
        assert body[0]["type"] == detail
    else:
        assert (body["code"] if isinstance(body, dict) else body) == detail


async def test_a_cursor_belongs_to_its_query(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    for n in range(3):
        await put(admin, **ref("user:hub", f"user:n{n}"))
    cursor = (await neighbors(admin, "user:hub", page_size=1))["next_cursor"]
    got = await admin.get(
        "/v1/graph/neighbors",
        params={"entity": "user:n0", "scope": "company", "cursor": cursor},
    )
    assert got.status_code == 400
    assert got.json()["detail"]["code"] == "invalid_cursor"


async def test_garden_edges_are_invisible_to_outsiders(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    owner = await mint(admin, "user:owner", ["read", "write"])
    outsider = await mint(admin, "user:outsider", ["read"])
    async with h.client(owner) as o, h.client(outsider) as x:
        made = await o.post("/v1/gardens", json={"slug": "atlas", "name": "A", "scope": "team"})
        assert made.status_code == 201, made.text
        await put(o, **ref("user:a", "proj:secret"), scope="team",
                  garden_id="stigmem://n/garden/atlas")  # fmt: skip
        await put(o, **ref("user:a", "proj:public"), scope="team")
        assert found(await neighbors(o, "user:a", scope="team")) == [
            ("proj:public", 1), ("proj:secret", 1),
        ]  # fmt: skip
        assert found(await neighbors(x, "user:a", scope="team")) == [("proj:public", 1)]


async def test_neighbors_need_read(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    fed = await mint(admin, "user:fed", ["federate"])
    async with h.client(fed) as f:
        got = await f.get("/v1/graph/neighbors", params={"entity": "user:a", "scope": "local"})
    assert got.status_code == 403
    assert got.json() == {"detail": "read permission required"}
