"""Keyset pagination: never skips or repeats a row, even with writes between pages."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from tests.conftest import fact_body


async def post_many(client: httpx.AsyncClient, prefix: str, n: int) -> list[str]:
    responses = [
        await client.post("/v1/facts", json=fact_body(entity=f"{prefix}:{i}")) for i in range(n)
    ]
    assert all(r.status_code == 201 for r in responses)
    return [r.json()["id"] for r in responses]


async def page(client: httpx.AsyncClient, **params: Any) -> tuple[list[str], str | None, int]:
    response = await client.get("/v1/facts", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [f["id"] for f in body["facts"]], body["cursor"], body["total"]


async def test_pages_cover_everything_once_despite_new_writes(client: httpx.AsyncClient) -> None:
    original = await post_many(client, "user", 10)
    seen: list[str] = []
    ids, cursor, total = await page(client, limit=4)
    assert total == 10
    seen += ids
    round_ = 0
    while cursor is not None:
        # New facts between pages land before the cursor: never seen, never shifting.
        await post_many(client, f"late{round_}", 3)
        round_ += 1
        ids, cursor, _ = await page(client, limit=4, cursor=cursor)
        seen += ids
    assert seen == list(reversed(original))  # newest first, each exactly once
    assert round_ == 2


async def test_concurrent_writes_while_paging(client: httpx.AsyncClient) -> None:
    original = set(await post_many(client, "user", 25))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 5, "entity": None}
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        writes = asyncio.gather(
            *(
                client.post("/v1/facts", json=fact_body(entity=f"x:{len(seen)}:{i}"))
                for i in range(4)
            )
        )
        (ids, cursor, _), _ = await asyncio.gather(page(client, **params), writes)
        seen += ids
        if cursor is None:
            break
    assert len(seen) == len(set(seen))  # nothing repeated
    assert original <= set(seen)  # nothing that existed before paging was skipped


async def test_cursor_with_filters(client: httpx.AsyncClient) -> None:
    mine = await post_many(client, "user", 5)
    await post_many(client, "other", 5)
    collected: list[str] = []
    cursor = None
    for _ in range(5):
        ids, cursor, total = await page(
            client, source="agent:bot", limit=2, **({"cursor": cursor} if cursor else {})
        )
        assert total == 10
        collected += ids
        if cursor is None:
            break
    assert len(collected) == 10
    only_mine: list[str] = []
    cursor = None
    while True:
        ids, cursor, total = await page(
            client, entity="user:1", limit=1, **({"cursor": cursor} if cursor else {})
        )
        only_mine += ids
        if cursor is None:
            break
    assert only_mine == [mine[1]]


async def test_exact_page_boundary_has_no_dangling_cursor(client: httpx.AsyncClient) -> None:
    await post_many(client, "user", 4)
    ids, cursor, _ = await page(client, limit=2)
    ids2, cursor2, _ = await page(client, limit=2, cursor=cursor)
    assert len(ids2) == 2
    assert cursor2 is None
    assert not set(ids) & set(ids2)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "!!!",
        "k1:5",  # not encoded
        _cursor("k1:-1"),
        _cursor("k2:5"),
        _cursor("k1:x"),
        _cursor("k1:99999999999999999999999999"),  # beyond SQLite's integer range
        "a" * 2000,
        "\u00e9",
    ],
)
async def test_bad_cursor_is_400(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get("/v1/facts", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", [0, -1, 501, "x"])
async def test_limit_out_of_range_is_422(client: httpx.AsyncClient, limit: Any) -> None:
    response = await client.get("/v1/facts", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_limit_bounds_are_inclusive(client: httpx.AsyncClient) -> None:
    await post_many(client, "user", 2)
    assert len((await page(client, limit=1))[0]) == 1
    assert len((await page(client, limit=500))[0]) == 2
