"""``total`` is the number of facts the filters match for this caller (CONTRACT §3, §9), the
same whichever way the node finds it: counted (through the index of the relation, migration
0009, or the triple), or taken from a first page that holds every match. Checked on a store
with every rule at work: retraction, expiry, contradictions (beaten, tied, across gardens),
garden ACL and quarantine holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import NodeHarness, fact_body
from tests.gardens.support import GARDEN_URI, Cast, cast_of

RELATION = "pref:color"
PAST = "2000-01-01T00:00:00Z"

# Query shapes: by relation (the covering index), by entity (the triple), both, neither,
# and with the filters a count applies beside the rules.
SHAPES: list[dict[str, Any]] = [
    {"relation": RELATION},
    {"relation": RELATION, "scope": "team"},
    {"relation": RELATION, "min_confidence": 0.5},
    {"relation": RELATION, "source": "agent:other"},
    {"relation": RELATION, "include_contradicted": "true"},
    {"relation": RELATION, "include_expired": "true"},
    {"relation": RELATION, "garden_id": GARDEN_URI},
    {"entity": "user:e1"},
    {"entity": "user:e1", "relation": RELATION},
    {"scope": "team"},
    {},
]


async def _post(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    created = await client.post("/v1/facts", json=fact_body(**{"relation": RELATION, **overrides}))
    assert created.status_code == 201, created.text
    return dict(created.json())


def _string(v: str) -> dict[str, str]:
    return {"type": "string", "v": v}


@pytest.fixture
async def cast(harness: NodeHarness) -> AsyncIterator[Cast]:
    """Facts of one relation under every rule; a quarantine garden holds one of them."""
    async with cast_of(harness, quarantine=False) as c:
        admin, owner = c.admin, c["owner"]
        for i in range(5):  # plain facts, two sources, two scopes
            source = "agent:other" if i % 2 else "agent:bot"
            await _post(admin, entity=f"user:e{i}", source=source, scope="team")
        await _post(admin, entity="user:e1", relation="pref:size")  # another relation
        await _post(admin, entity="user:gone")
        await _post(admin, entity="user:gone", confidence=0.0)  # retracts it
        await _post(admin, entity="user:old", valid_until=PAST)  # expired
        await _post(admin, entity="user:e1", value=_string("red"), confidence=0.9)
        await _post(admin, entity="user:e1", value=_string("green"), confidence=0.4)  # beaten
        await _post(admin, entity="user:tie", value=_string("a"), confidence=0.7)
        await _post(admin, entity="user:tie", value=_string("b"), confidence=0.7)  # wins: HLC
        await _post(admin, entity="user:low", confidence=0.3)
        # In the garden: a fact, and a rival of an ungardened fact's triple (no contradiction
        # across the boundary).
        await _post(owner, entity="user:g1", scope="team", garden_id=GARDEN_URI)
        await _post(
            owner, entity="user:e1", value=_string("teal"), scope="team", garden_id=GARDEN_URI
        )
        held = await c.admin.post(
            "/v1/gardens", json={"slug": "hold", "name": "Hold", "scope": "team",
                                 "quarantine": True},
        )  # fmt: skip
        assert held.status_code == 201, held.text
        await _post(admin, entity="user:held", scope="team", garden_id=held.json()["id"])
        yield c


async def _walk(client: httpx.AsyncClient, params: dict[str, Any], limit: int) -> list[str]:
    """Every id the query lists, page by page; each page's total must agree with the others."""
    ids: list[str] = []
    totals: set[int] = set()
    cursor: str | None = None
    while True:
        page_params = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/facts", params=page_params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == int(response.headers["X-Total-Count"])
        totals.add(body["total"])
        ids += [f["id"] for f in body["facts"]]
        cursor = body["cursor"]
        if cursor is None:
            break
    assert len(totals) == 1, totals
    assert totals == {len(ids)}, (totals, len(ids))
    return ids


@pytest.mark.parametrize("who", ["node_admin", "owner", "outsider"])
@pytest.mark.parametrize("shape", range(len(SHAPES)))
async def test_counted_and_listed_totals_agree(cast: Cast, who: str, shape: int) -> None:
    params = SHAPES[shape]
    client = cast[who]
    if "garden_id" in params and who == "outsider":
        refused = await client.get("/v1/facts", params=params)
        assert refused.status_code == 403  # a non-member may not filter by the garden
        return
    # limit 2: full pages, so the total is counted; 500: one page that holds every match.
    assert await _walk(client, params, 2) == await _walk(client, params, 500)


async def test_relation_total_applies_every_rule(cast: Cast) -> None:
    listed = await cast.admin.get("/v1/facts", params={"relation": RELATION, "limit": 500})
    entities = sorted(f["entity"] for f in listed.json()["facts"])
    # Retracted (user:gone), expired (user:old), beaten (green; the earlier of the equally
    # confident user:tie facts) and held (user:held): hidden. The retraction itself is listed
    # (confidence 0 is a fact), and so is the garden's rival of user:e1 (contradictions stay
    # inside a garden).
    assert entities == sorted(
        [f"user:e{i}" for i in range(5)]
        + ["user:gone", "user:e1", "user:tie", "user:low", "user:g1", "user:e1"]
    )
    counted = await cast.admin.get("/v1/facts", params={"relation": RELATION, "limit": 1})
    assert counted.json()["total"] == len(entities)
    outsider = await cast["outsider"].get("/v1/facts", params={"relation": RELATION, "limit": 1})
    assert outsider.json()["total"] == len(entities) - 2  # the two garden facts
