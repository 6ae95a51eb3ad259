"""Garden-tagged facts: writes (404/422/403), the garden_id filter, metadata facts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows, raw_rows
from tests.gardens.support import GARDEN, GARDEN_URI, SECRET, SECRET_ENTITY, Cast, cast_of

READER_TEXT = "write permission required — you are a reader in this garden"
MISMATCH = "scope mismatch: garden scope is 'team' but fact scope is 'company'"


@pytest.fixture
async def cast(harness: NodeHarness) -> AsyncIterator[Cast]:
    async with cast_of(harness) as c:
        yield c


def garden_body(**overrides: Any) -> dict[str, Any]:
    body = fact_body(scope="team", garden_id=GARDEN_URI)
    body.update(overrides)
    return body


async def test_writer_writes_a_garden_fact_tagged_with_the_garden_uuid(cast: Cast) -> None:
    created = await cast["writer"].post("/v1/facts", json=garden_body())
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["garden_id"] == cast.garden["id"]
    assert (record["quarantine_status"], record["quarantine_garden_id"]) == (None, None)
    # The authority of the garden URI is ignored: any host finds the garden by its slug.
    other_host = garden_body(garden_id="stigmem://testnode/garden/atlas", relation="pref:size")
    assert (await cast["owner"].post("/v1/facts", json=other_host)).status_code == 201


@pytest.mark.parametrize(
    ("who", "body", "status", "detail"),
    [
        ("owner", garden_body(garden_id="stigmem://x/garden/no-such"), 404, "garden not found"),
        ("owner", garden_body(garden_id="not a garden uri!"), 404, "garden not found"),
        ("owner", garden_body(garden_id="stigmem://x/garden/"), 404, "garden not found"),
        ("owner", garden_body(scope="company"), 422, MISMATCH),
        ("reader", garden_body(), 403, READER_TEXT),
        ("moderator", garden_body(), 403, "not a member of this garden"),
        ("outsider", garden_body(), 403, "not a member of this garden"),
        ("lurker", garden_body(), 403, "write permission required"),
        (
            "lurker",
            garden_body(garden_id="stigmem://x/garden/no-such"),
            403,
            "write permission required",
        ),
    ],
)
async def test_refused_garden_writes_write_nothing(
    harness: NodeHarness, cast: Cast, who: str, body: dict[str, Any], status: int, detail: str
) -> None:
    before = count_rows(harness)
    refused = await cast[who].post("/v1/facts", json=body)
    assert refused.status_code == status, refused.text
    assert refused.json() == {"detail": detail}
    assert count_rows(harness) == before
    # Batch items follow the same rules, item by item.
    batch = await cast[who].post("/v1/facts/batch", json={"facts": [body]})
    if who == "lurker":
        assert batch.status_code == 403
    else:
        assert batch.json()["results"][0] == {"index": 0, "status": status, "detail": detail}
    assert count_rows(harness) == before


async def test_a_batch_mixes_garden_items_and_reports_each(
    harness: NodeHarness, cast: Cast
) -> None:
    items = [
        garden_body(relation="pref:a"),
        garden_body(relation="pref:b", scope="company"),
        garden_body(relation="pref:c"),
        fact_body(relation="pref:d"),
    ]
    result = (await cast["writer"].post("/v1/facts/batch", json={"facts": items})).json()
    assert [r["status"] for r in result["results"]] == [201, 422, 201, 201]
    garden_ids = [r["fact"]["garden_id"] for r in result["results"] if r["status"] == 201]
    assert garden_ids == [cast.garden["id"], cast.garden["id"], None]
    assert result["results"][1]["detail"] == MISMATCH


async def test_callers_cannot_write_the_garden_namespace(harness: NodeHarness, cast: Cast) -> None:
    before = count_rows(harness)
    for body in (
        fact_body(relation="garden:member", value={"type": "ref", "v": "user:mallory"}),
        garden_body(relation="garden:role:user:mallory", value={"type": "string", "v": "admin"}),
    ):
        refused = await cast["owner"].post("/v1/facts", json=body)
        assert refused.status_code == 403
        assert refused.json()["detail"]["code"] == "reserved_namespace"
    assert count_rows(harness) == before


async def test_retraction_stays_inside_the_garden(cast: Cast) -> None:
    inside = await cast.garden_fact()
    outside = await cast["owner"].post(
        "/v1/facts",
        json=fact_body(entity=SECRET_ENTITY, relation="roadmap:status", scope="team",
                       value={"type": "string", "v": SECRET}),
    )  # fmt: skip
    assert outside.status_code == 201
    retraction = await cast.garden_fact(confidence=0.0)
    assert retraction["garden_id"] == cast.garden["id"]
    page = (
        await cast["reader"].get(
            "/v1/facts", params={"entity": SECRET_ENTITY, "min_confidence": 0.5}
        )
    ).json()
    assert [f["id"] for f in page["facts"]] == [outside.json()["id"]]
    assert inside["id"] not in str(page)


async def test_contradictions_never_cross_the_garden_boundary(
    harness: NodeHarness, cast: Cast
) -> None:
    await cast.garden_fact()
    outside = await cast["owner"].post(
        "/v1/facts",
        json=fact_body(entity=SECRET_ENTITY, relation="roadmap:status", scope="team",
                       value={"type": "string", "v": "public-value"}),
    )  # fmt: skip
    assert outside.json()["contradicted"] is False
    assert count_rows(harness, "conflicts") == 0
    rival = await cast.garden_fact(value={"type": "string", "v": "other-secret"})
    assert rival["contradicted"] is True
    conflict = raw_rows(harness, "SELECT fact_a_id, fact_b_id FROM conflicts")
    assert len(conflict) == 1
    assert outside.json()["id"] not in conflict[0]


# -- the garden_id filter -----------------------------------------------------------------
async def test_filter_returns_only_the_garden_to_members(cast: Cast) -> None:
    fact = await cast.garden_fact()
    await cast["owner"].post("/v1/facts", json=fact_body(relation="pref:outside"))
    for who in ("owner", "writer", "reader", "moderator", "node_admin"):
        page = await cast[who].get("/v1/facts", params={"garden_id": GARDEN_URI})
        assert page.status_code == 200, (who, page.text)
        facts = page.json()["facts"]
        assert fact["id"] in {f["id"] for f in facts}
        assert {f["garden_id"] for f in facts} == {cast.garden["id"]}
        assert page.headers["X-Total-Count"] == str(page.json()["total"])


@pytest.mark.parametrize(
    ("who", "garden", "status", "detail"),
    [
        ("outsider", GARDEN_URI, 403, "not a member of this garden"),
        ("lurker", GARDEN_URI, 403, "not a member of this garden"),
        ("owner", "stigmem://x/garden/no-such", 404, "garden not found"),
        ("owner", "%%%", 404, "garden not found"),
    ],
)
async def test_filter_refusals(cast: Cast, who: str, garden: str, status: int, detail: str) -> None:
    await cast.garden_fact()
    refused = await cast[who].get("/v1/facts", params={"garden_id": garden})
    assert (refused.status_code, refused.json()) == (status, {"detail": detail})
    assert SECRET not in refused.text


# -- membership metadata facts ------------------------------------------------------------
async def _meta(cast: Cast, who: str = "owner") -> dict[tuple[str, Any], dict[str, Any]]:
    page = await cast[who].get(
        "/v1/facts",
        params={"entity": cast.garden["garden_id"], "min_confidence": 0.5, "limit": 500},
    )
    return {(f["relation"], f["value"]["v"]): f for f in page.json()["facts"]}


async def test_membership_is_mirrored_as_garden_facts(harness: NodeHarness, cast: Cast) -> None:
    meta = await _meta(cast)
    assert ("garden:member", "user:owner") in meta
    assert ("garden:role:user:reader", "reader") in meta
    fact = meta[("garden:member", "user:writer")]
    assert fact["value"]["type"] == "ref"
    assert (fact["source"], fact["scope"], fact["garden_id"]) == (
        "system:stigmem", "team", cast.garden["id"],
    )  # fmt: skip
    assert fact["contradicted"] is False  # several members never rival each other
    assert await _meta(cast, "outsider") == {}  # only members see who belongs

    base = f"/v1/gardens/{GARDEN}/members"
    await cast["owner"].patch(f"{base}/user:reader", json={"role": "writer"})
    meta = await _meta(cast)
    assert ("garden:role:user:reader", "writer") in meta
    assert ("garden:role:user:reader", "reader") not in meta
    await cast["owner"].delete(f"{base}/user:writer")
    meta = await _meta(cast)
    assert ("garden:member", "user:writer") not in meta
    assert ("garden:role:user:writer", "writer") not in meta
    events = raw_rows(
        harness,
        "SELECT event_type, entity_uri FROM audit_log WHERE event_type LIKE 'garden_member_%'"
        " ORDER BY seq",
    )
    assert events[-2:] == [
        ("garden_member_updated", "user:owner"),
        ("garden_member_removed", "user:owner"),
    ]


async def test_a_removed_member_loses_access_at_once(cast: Cast) -> None:
    fact = await cast.garden_fact()
    assert (await cast["reader"].get(f"/v1/facts/{fact['id']}")).status_code == 200
    await cast["owner"].delete(f"/v1/gardens/{GARDEN}/members/user:reader")
    assert (await cast["reader"].get(f"/v1/facts/{fact['id']}")).status_code == 403
    page = await cast["reader"].get("/v1/facts", params={"entity": SECRET_ENTITY})
    assert page.json()["facts"] == []
    await cast["owner"].post(
        f"/v1/gardens/{GARDEN}/members", json={"entity_uri": "user:outsider", "role": "reader"}
    )
    assert (await cast["outsider"].get(f"/v1/facts/{fact['id']}")).status_code == 200
