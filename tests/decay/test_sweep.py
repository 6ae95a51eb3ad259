"""POST /v1/decay/sweep: TTL expiry and confidence floor as new rows, with an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from stigmem_node.clock import FakeClock
from stigmem_node.db import Cursor
from tests.conftest import NodeHarness, start_node
from tests.decay.support import counts, mint, put

DAY = 86_400


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for harness in start_node(tmp_path, clock=FakeClock()):
        yield harness


@pytest.fixture
async def admin(h: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with h.client() as c:
        yield c


def _clock(h: NodeHarness) -> FakeClock:
    assert h.clock is not None
    return h.clock


async def _visible_ids(client: httpx.AsyncClient, **params: object) -> set[str]:
    page = await client.get("/v1/facts", params={"limit": 500, **params})
    assert page.status_code == 200, page.text
    return {f["id"] for f in page.json()["facts"]}


def _base_row_txn(cur: Cursor, fact_id: str) -> tuple[object, ...]:
    return tuple(
        cur.execute(
            "SELECT valid_until, valid_until_utc, confidence FROM facts WHERE id = ?", (fact_id,)
        ).fetchone()
    )


async def test_ttl_expires_old_facts_as_overrides(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    old = await put(admin, entity="user:old", value={"type": "string", "v": "x"})
    system = await put(admin, entity="user:old", relation="stigmem:note")
    _clock(h).advance(10 * DAY)
    fresh = await put(admin, entity="user:new")
    before = await h.node.db.read("base", _base_row_txn, old["id"])

    swept = await admin.post("/v1/decay/sweep", params={"ttl_seconds": 5 * DAY})

    assert swept.status_code == 200, swept.text
    assert swept.json() == {"scanned": 1, "decayed": 1, "dry_run": False}
    # The base row is untouched; reads show the projection, and the CID is the content's.
    assert await h.node.db.read("base", _base_row_txn, old["id"]) == before
    got = (await admin.get(f"/v1/facts/{old['id']}")).json()
    assert got["valid_until"] == "2026-01-11T00:00:00.000000+00:00"
    assert got["cid"] == old["cid"]
    assert await _visible_ids(admin) == {fresh["id"], system["id"]}
    assert old["id"] in await _visible_ids(admin, include_expired="true")
    assert (await counts(h))["fact_validity_overrides"] == 1


async def test_ttl_zero_expires_every_fact_without_expiry(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    plain = await put(admin, entity="user:a")
    expiring = await put(admin, entity="user:b", valid_until="2027-01-01T00:00:00Z")
    swept = await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0})
    assert swept.json() == {"scanned": 1, "decayed": 1, "dry_run": False}
    assert await _visible_ids(admin) == {expiring["id"]}
    assert plain["id"] in await _visible_ids(admin, include_expired="true")


async def test_floor_retracts_weak_facts(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    weak = await put(admin, entity="user:w", confidence=0.2)
    strong = await put(admin, entity="user:s", confidence=0.9)
    retraction = await put(admin, entity="user:z", confidence=0.0)

    swept = await admin.post("/v1/decay/sweep", params={"min_confidence": 0.5})

    assert swept.json() == {"scanned": 1, "decayed": 1, "dry_run": False}
    visible = await _visible_ids(admin, include_expired="true")
    assert weak["id"] not in visible
    assert {strong["id"], retraction["id"]} <= visible
    reason = await h.node.db.read(
        "reason",
        lambda cur: cur.execute(
            "SELECT reason, retracted_by FROM fact_retractions WHERE fact_id = ?", (weak["id"],)
        ).fetchone(),
    )
    assert tuple(reason) == ("decay", "stigmem:system:decay")


async def test_dry_run_reports_and_writes_nothing(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, entity="user:a")
    await put(admin, entity="user:b", confidence=0.1)
    before = await counts(h)
    swept = await admin.post(
        "/v1/decay/sweep", params={"ttl_seconds": 0, "min_confidence": 0.5, "dry_run": "true"}
    )
    assert swept.json() == {"scanned": 2, "decayed": 0, "dry_run": True}
    assert await counts(h) == before


async def test_scope_filter_and_audit(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    team = await put(admin, entity="user:t", scope="team")
    company = await put(admin, entity="user:c", scope="company")
    swept = await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0, "scope": "team"})
    assert swept.json()["decayed"] == 1
    assert await _visible_ids(admin) == {company["id"]}
    assert team["id"] not in await _visible_ids(admin)
    assert (await counts(h))["decay_audit"] == 1


async def test_defaults_come_from_settings(tmp_path: Path) -> None:
    clock = FakeClock()
    async for h in start_node(tmp_path, clock=clock, decay_ttl_seconds=DAY):
        async with h.client() as admin:
            old = await put(admin, entity="user:old")
            clock.advance(2 * DAY)
            await put(admin, entity="user:new")
            swept = await admin.post("/v1/decay/sweep")
            assert swept.json() == {"scanned": 1, "decayed": 1, "dry_run": False}
            assert old["id"] not in await _visible_ids(admin)


async def test_nothing_in_force_scans_nothing(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, entity="user:a", confidence=0.01)
    before = await counts(h)
    swept = await admin.post("/v1/decay/sweep", params={"min_confidence": 0})
    assert swept.json() == {"scanned": 0, "decayed": 0, "dry_run": False}
    assert await counts(h) == before


async def test_decayed_content_can_be_asserted_again(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    first = await put(admin, entity="user:a")
    await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0})
    again = await put(admin, entity="user:a")
    assert again["id"] != first["id"]
    assert again["valid_until"] is None
    assert await _visible_ids(admin) == {again["id"]}


async def test_decaying_one_side_ends_a_contradiction(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    await put(admin, entity="user:a", value={"type": "string", "v": "blue"}, confidence=0.3)
    red = await put(admin, entity="user:a", value={"type": "string", "v": "red"})
    assert red["contradicted"] is True
    await admin.post("/v1/decay/sweep", params={"min_confidence": 0.5})
    assert (await admin.get(f"/v1/facts/{red['id']}")).json()["contradicted"] is False


async def test_huge_ttl_decays_nothing(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin)
    swept = await admin.post("/v1/decay/sweep", params={"ttl_seconds": 10**30})
    assert swept.status_code == 200, swept.text
    assert swept.json() == {"scanned": 0, "decayed": 0, "dry_run": False}


async def test_garden_facts_of_other_gardens_are_not_decayed(
    h: NodeHarness, admin: httpx.AsyncClient
) -> None:
    owner = await mint(admin, "user:owner", ["read", "write"])
    outsider = await mint(admin, "user:outsider", ["read", "write"])
    async with h.client(owner) as o, h.client(outsider) as x:
        made = await o.post("/v1/gardens", json={"slug": "atlas", "name": "A", "scope": "team"})
        assert made.status_code == 201, made.text
        secret = await put(o, scope="team", garden_id="stigmem://n/garden/atlas")
        swept = await x.post("/v1/decay/sweep", params={"ttl_seconds": 0})
        assert swept.json() == {"scanned": 0, "decayed": 0, "dry_run": False}
        assert (await o.get(f"/v1/facts/{secret['id']}")).json()["valid_until"] is None


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"scope": "galaxy"}, 400, "scope must be one of {'local', 'team', 'company', 'public'}"),
        ({"ttl_seconds": -1}, 422, None),
        ({"ttl_seconds": "soon"}, 422, None),
        ({"min_confidence": 1.5}, 422, None),
        ({"min_confidence": "nan"}, 422, None),
        ({"dry_run": "maybe"}, 422, None),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    h: NodeHarness,
    admin: httpx.AsyncClient,
    params: dict[str, object],
    status: int,
    detail: str | None,
) -> None:
    await put(admin)
    before = await counts(h)
    swept = await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0, **params})
    assert swept.status_code == status, swept.text
    body = swept.json()["detail"]
    if detail is not None:
        assert body == detail
    else:
        assert body[0]["loc"][0] == "query"
    assert await counts(h) == before


async def test_sweep_needs_write(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin)
    reader = await mint(admin, "user:reader", ["read"])
    before = await counts(h)
    async with h.client(reader) as r:
        swept = await r.post("/v1/decay/sweep", params={"ttl_seconds": 0, "scope": "galaxy"})
    assert swept.status_code == 403
    assert swept.json() == {"detail": "write permission required"}
    assert await counts(h) == before


async def test_sweep_needs_credentials(h: NodeHarness) -> None:
    async with h.client(None) as anon:
        swept = await anon.post("/v1/decay/sweep", params={"ttl_seconds": 0})
    assert swept.status_code == 401
