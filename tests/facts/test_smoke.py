from __future__ import annotations

import httpx

from tests.conftest import fact_body


async def test_assert_then_query(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/facts", json=fact_body())
    assert created.status_code == 201, created.text
    page = await client.get("/v1/facts", params={"entity": "user:alice"})
    assert page.status_code == 200
    assert [f["id"] for f in page.json()["facts"]] == [created.json()["id"]]
    assert page.headers["X-Total-Count"] == "1"
