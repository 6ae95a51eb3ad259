"""Role × route: a garden fact is visible to its members and node admins, and a non-member
finds no trace of it through any route; a held (quarantined) fact is invisible to everyone.

One node for the module (reads only): garden ``atlas`` holds a secret fact and a rival of it
(a conflict inside the garden); an untagged public fact derives from the secret one; the
quarantine garden ``holding`` holds a pending fact.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import fact_body, new_storage
from tests.facts.support import shared_node
from tests.gardens.support import GARDEN_URI, SECRET, SECRET_ENTITY, Cast, cast_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEMBERS = ["owner", "writer", "reader", "moderator", "node_admin"]
OUTSIDERS = ["outsider", "lurker"]
HELD_SECRET = "held-secret-value-awaiting-moderation"
RIVAL_SECRET = "rival-secret-value"


@dataclass
class World:
    cast: Cast
    fact: dict[str, Any]
    rival: dict[str, Any]
    public: dict[str, Any]
    held: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, engine: str, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    storage = new_storage(engine, request)
    async for harness in shared_node(Path(tmp_path_factory.mktemp("acl")), storage):
        async with cast_of(harness) as cast:
            fact = await cast.garden_fact()
            rival = await cast.garden_fact(value={"type": "string", "v": RIVAL_SECRET})
            assert rival["contradicted"] is True
            public = await cast["owner"].post(
                "/v1/facts",
                json=fact_body(
                    entity="user:public", relation="pref:summary", scope="team",
                    derived_from=[{"fact_id": fact["id"]}, {"hash": fact["cid"]}],
                ),
            )  # fmt: skip
            holding = await cast["owner"].post(
                "/v1/gardens",
                json={"slug": "holding", "name": "H", "scope": "team", "quarantine": True},
            )
            assert holding.status_code == 201
            held = await cast["owner"].post(
                "/v1/facts",
                json=fact_body(
                    entity="user:held", relation="pref:held", scope="team",
                    value={"type": "string", "v": HELD_SECRET},
                    garden_id="stigmem://x/garden/holding",
                ),
            )  # fmt: skip
            assert held.json()["quarantine_status"] == "pending"
            yield World(cast, fact, rival, public.json(), held.json())
    storage.close()


def _route(world: World, name: str) -> tuple[str, str, dict[str, Any] | None]:
    fact = world.fact
    return {
        "query_all": ("GET", "/v1/facts?limit=500&include_contradicted=true", None),
        "query_entity": (
            "GET",
            f"/v1/facts?entity={SECRET_ENTITY}&include_contradicted=true",
            None,
        ),
        "query_relation": (
            "GET",
            "/v1/facts?relation=roadmap:status&include_contradicted=true",
            None,
        ),
        "get_by_id": ("GET", f"/v1/facts/{fact['id']}", None),
        "get_by_cid": ("GET", f"/v1/facts/{fact['cid']}", None),
        "provenance": ("GET", f"/v1/facts/{fact['id']}/provenance", None),
        "verify_cid": ("POST", f"/v1/facts/{fact['id']}/verify-cid", None),
        "conflicts": ("GET", "/v1/conflicts?limit=500", None),
        "garden_filter": (
            "GET",
            f"/v1/facts?garden_id={GARDEN_URI}&include_contradicted=true",
            None,
        ),
    }[name]


ROUTES = [
    "query_all", "query_entity", "query_relation", "get_by_id", "get_by_cid", "provenance",
    "verify_cid", "conflicts", "garden_filter",
]  # fmt: skip
OUTSIDER_STATUS = {"get_by_id": 403, "provenance": 403, "verify_cid": 403, "garden_filter": 403,
                   "get_by_cid": 404}  # fmt: skip


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("who", MEMBERS)
async def test_members_and_node_admins_see_the_garden_fact(
    world: World, who: str, route: str
) -> None:
    method, path, body = _route(world, route)
    response = await world.cast[who].request(method, path, json=body)
    assert response.status_code == 200, response.text
    assert world.fact["id"] in response.text or world.fact["cid"] in response.text
    if route not in ("verify_cid", "provenance"):
        assert SECRET in response.text
    assert HELD_SECRET not in response.text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("who", OUTSIDERS)
async def test_non_members_find_no_trace(world: World, who: str, route: str) -> None:
    method, path, body = _route(world, route)
    response = await world.cast[who].request(method, path, json=body)
    assert response.status_code == OUTSIDER_STATUS.get(route, 200), response.text
    if response.status_code == 403:
        assert response.json() == {"detail": "not a member of this garden"}
    if response.status_code == 404:
        assert response.json() == {"detail": "fact not found"}
    for trace in (SECRET, RIVAL_SECRET, SECRET_ENTITY, world.rival["id"], HELD_SECRET):
        assert trace not in response.text, (route, trace)
    if route.startswith("query"):
        # (The public fact's own ``derived_from`` names the secret fact: its writer chose to.)
        assert world.fact["id"] not in {f["id"] for f in response.json()["facts"]}
    if route == "conflicts":
        assert world.fact["id"] not in response.text


@pytest.mark.parametrize("who", MEMBERS + OUTSIDERS)
async def test_derived_from_links_respect_the_acl(world: World, who: str) -> None:
    page = await world.cast[who].get(f"/v1/facts/{world.public['id']}/provenance")
    assert page.status_code == 200
    links = page.json()["derived_from"]
    member = who in MEMBERS
    assert [link["exists"] for link in links] == [member, member]
    assert [link["fact_id"] for link in links] == [world.fact["id"] if member else None] * 2
    assert [link["entity"] for link in links] == [SECRET_ENTITY if member else None] * 2


@pytest.mark.parametrize("who", MEMBERS + OUTSIDERS)
async def test_a_held_fact_is_invisible_to_every_normal_read(world: World, who: str) -> None:
    client = world.cast[who]
    held = world.held
    for path in (f"/v1/facts/{held['id']}", f"/v1/facts/{held['cid']}",
                 f"/v1/facts/{held['id']}/provenance"):  # fmt: skip
        missing = await client.get(path)
        assert (missing.status_code, missing.json()) == (404, {"detail": "fact not found"})
    for path in ("/v1/facts?entity=user:held", "/v1/facts?limit=500", "/v1/conflicts"):
        assert HELD_SECRET not in (await client.get(path)).text
    filtered = await client.get("/v1/facts", params={"garden_id": "stigmem://x/garden/holding"})
    assert HELD_SECRET not in filtered.text


# -- every other route ---------------------------------------------------------------------
PROBE_PARAMS = {
    "entity": SECRET_ENTITY, "scope": "team", "query": SECRET, "relation": "roadmap:status",
    "limit": "100",
}  # fmt: skip
POST_PROBES = {
    "/v1/recall": {"query": SECRET, "scope": "team", "token_budget": 4000},
    "/v1/lint": {"scope": "team"},
}


def _probe_paths(world: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every GET under /v1 (path parameters filled from the secret fact) and read POSTs."""
    fill = {"fact_id": world.fact["id"], "id": world.fact["id"],
            "entity_uri": SECRET_ENTITY, "garden": "atlas"}  # fmt: skip
    probes: list[tuple[str, str, dict[str, Any] | None]] = []
    for path, operations in world.cast.harness.app.openapi()["paths"].items():
        if not path.startswith("/v1/"):
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", path)
        if "get" in operations and all(n in fill for n in names):
            filled = re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(fill[m.group(1)]), path)
            probes.append(("GET", filled, None))
        if "post" in operations and path in POST_PROBES:
            probes.append(("POST", path, POST_PROBES[path]))
    return probes


@pytest.mark.parametrize("who", OUTSIDERS)
async def test_no_route_shows_a_non_member_the_garden_fact(world: World, who: str) -> None:
    probes = _probe_paths(world)
    assert ("GET", f"/v1/facts/{world.fact['id']}", None) in probes
    leaks = []
    for method, path, body in probes:
        params = PROBE_PARAMS if method == "GET" else None
        response = await world.cast[who].request(method, path, params=params, json=body)
        assert response.status_code < 500, (path, response.text)
        # (The secret entity is the probe's own input here; some routes echo it back.)
        for trace in (SECRET, RIVAL_SECRET, HELD_SECRET):
            if trace in response.text:
                leaks.append((path, trace))
    assert leaks == []


@pytest.mark.parametrize("who", MEMBERS)
async def test_no_route_shows_anyone_a_held_value(world: World, who: str) -> None:
    for method, path, body in _probe_paths(world):
        params = PROBE_PARAMS if method == "GET" else None
        response = await world.cast[who].request(method, path, params=params, json=body)
        assert HELD_SECRET not in response.text, path
