"""Quarantine gardens: held writes, promote/reject, /v1/quarantine, audit of every decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests import pg
from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows, raw_rows
from tests.gardens.support import GARDEN, GARDEN_URI, Cast, cast_of

MODERATOR_TEXT = "quarantine:moderator or admin role required to promote/reject facts"
HOLD_KEYS = [
    "fact_id", "entity", "relation", "source", "quarantine_status", "quarantine_garden_id",
    "quarantine_reason", "quarantine_acted_by", "quarantine_acted_at", "source_trust",
    "received_from", "timestamp",
]  # fmt: skip


@pytest.fixture
async def cast(harness: NodeHarness) -> AsyncIterator[Cast]:
    async with cast_of(harness, quarantine=True) as c:
        yield c


async def held(cast: Cast, who: str = "writer", **overrides: Any) -> dict[str, Any]:
    body = fact_body(entity="user:suspect", relation="pref:claim", scope="team",
                     value={"type": "string", "v": "unverified"}, garden_id=GARDEN_URI)  # fmt: skip
    body.update(overrides)
    created = await cast[who].post("/v1/facts", json=body)
    assert created.status_code == 201, created.text
    record = dict(created.json())
    assert record["quarantine_status"] == "pending"
    return record


async def vault(cast: Cast, scope: str = "team") -> dict[str, Any]:
    created = await cast["owner"].post(
        "/v1/gardens", json={"slug": "vault", "name": "V", "scope": scope}
    )
    assert created.status_code == 201
    await cast["owner"].post(
        "/v1/gardens/vault/members", json={"entity_uri": "user:moderator", "role": "writer"}
    )
    return dict(created.json())


def hold_state(harness: NodeHarness, fact_id: str) -> tuple[Any, ...]:
    rows = raw_rows(
        harness,
        "SELECT status, acted_by, reason, target_garden_id FROM fact_quarantine WHERE fact_id = ?",
        (fact_id,),
    )
    return rows[0]


# -- holding ------------------------------------------------------------------------------
async def test_a_write_into_a_quarantine_garden_is_held(harness: NodeHarness, cast: Cast) -> None:
    fact = await held(cast)
    assert fact["quarantine_garden_id"] == cast.garden["id"] == fact["garden_id"]
    assert hold_state(harness, fact["id"]) == (
        "pending",
        None,
        "written to a quarantine garden",
        None,
    )
    for who in ("writer", "owner", "moderator", "node_admin"):
        got = await cast[who].get(f"/v1/facts/{fact['id']}")
        assert (got.status_code, got.json()) == (404, {"detail": "fact not found"})
    detail = raw_rows(harness, "SELECT detail FROM audit_log WHERE fact_id = ?", (fact["id"],))
    assert '"quarantine":"pending"' in detail[0][0]
    # Re-asserting the same content returns the held fact; a held retraction retracts nothing.
    assert (await held(cast))["id"] == fact["id"]
    await held(cast, confidence=0.0)
    assert count_rows(harness, "fact_retractions") == 0
    assert count_rows(harness, "conflicts") == 0


async def test_held_facts_never_conflict(harness: NodeHarness, cast: Cast) -> None:
    await held(cast)
    await held(cast, value={"type": "string", "v": "another claim"})
    assert count_rows(harness, "conflicts") == 0


# -- listing ------------------------------------------------------------------------------
async def test_listing_shows_holds_to_members_and_node_admins(cast: Cast) -> None:
    first = await held(cast)
    second = await held(cast, relation="pref:other")
    page = await cast["moderator"].get("/v1/quarantine")
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 2
    assert [i["fact_id"] for i in body["items"]] == [second["id"], first["id"]]
    assert list(body["items"][0]) == HOLD_KEYS
    assert body["items"][0]["quarantine_status"] == "pending"
    for garden in (GARDEN, cast.garden["id"], GARDEN_URI):
        filtered = await cast.admin.get("/v1/quarantine", params={"garden_id": garden})
        assert filtered.json()["total"] == 2
    paged = await cast["owner"].get("/v1/quarantine", params={"limit": 1, "offset": 1})
    assert ([i["fact_id"] for i in paged.json()["items"]], paged.json()["total"]) == (
        [first["id"]],
        2,
    )
    assert (await cast["outsider"].get("/v1/quarantine")).json() == {"items": [], "total": 0}


async def test_listing_refusals(cast: Cast) -> None:
    await held(cast)
    refused = await cast["outsider"].get("/v1/quarantine", params={"garden_id": GARDEN})
    assert (refused.status_code, refused.json()) == (403, {"detail": "not a member of this garden"})
    missing = await cast["owner"].get("/v1/quarantine", params={"garden_id": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "garden not found"})
    for params in ({"quarantine_status": "weird"}, {"limit": 0}, {"limit": 1001}, {"offset": -1}):
        bad = await cast["owner"].get("/v1/quarantine", params=params)
        assert bad.status_code == 422
        assert isinstance(bad.json()["detail"], list)


# -- promote ------------------------------------------------------------------------------
async def test_promote_into_no_garden(harness: NodeHarness, cast: Cast) -> None:
    fact = await held(cast)
    promoted = await cast["moderator"].post(
        f"/v1/gardens/{GARDEN}/promote", json={"fact_id": fact["id"], "reason": "checked"}
    )
    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    assert list(body) == [
        "fact_id", "action", "target_garden_id", "promoted_fact_id", "acted_by", "acted_at",
    ]  # fmt: skip
    assert (body["fact_id"], body["action"], body["target_garden_id"], body["acted_by"]) == (
        fact["id"], "promoted", None, "user:moderator",
    )  # fmt: skip
    # The admitted copy is an ordinary fact with the same content: everyone in scope sees it.
    copy = (await cast["outsider"].get(f"/v1/facts/{body['promoted_fact_id']}")).json()
    assert (copy["cid"], copy["source"], copy["garden_id"]) == (fact["cid"], "agent:bot", None)
    page = await cast["outsider"].get("/v1/facts", params={"entity": "user:suspect"})
    assert [f["id"] for f in page.json()["facts"]] == [copy["id"]]
    # The held original is retired; members may still look it up by id.
    original = (await cast["reader"].get(f"/v1/facts/{fact['id']}")).json()
    assert original["quarantine_status"] == "promoted"
    assert hold_state(harness, fact["id"]) == ("promoted", "user:moderator", "checked", None)
    event = raw_rows(
        harness,
        "SELECT entity_uri, ts, detail FROM audit_log WHERE event_type = 'quarantine_promote'",
    )
    assert len(event) == 1
    assert event[0][0] == "user:moderator"
    assert event[0][1] == body["acted_at"]
    assert '"reason":"checked"' in event[0][2]
    # Promoting twice is 409 and writes nothing.
    before = count_rows(harness)
    again = await cast["moderator"].post(
        f"/v1/gardens/{GARDEN}/promote", json={"fact_id": fact["id"]}
    )
    assert (again.status_code, again.json()) == (409, {"detail": "fact_not_quarantine_pending"})
    assert count_rows(harness) == before


async def test_promote_into_a_target_garden(harness: NodeHarness, cast: Cast) -> None:
    target = await vault(cast)
    fact = await held(cast)
    promoted = await cast["moderator"].post(
        f"/v1/gardens/{GARDEN}/promote",
        json={"fact_id": fact["id"], "target_garden_id": "vault"},
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["target_garden_id"] == target["id"]
    copy_id = promoted.json()["promoted_fact_id"]
    assert (await cast["moderator"].get(f"/v1/facts/{copy_id}")).json()["garden_id"] == target["id"]
    assert (await cast["writer"].get(f"/v1/facts/{copy_id}")).status_code == 403  # not in vault
    assert hold_state(harness, fact["id"])[3] == target["id"]


@pytest.mark.parametrize(
    ("target", "status", "detail"),
    [
        ("no-such-garden", 404, "target garden not found"),
        (GARDEN, 422, "target garden must not be a quarantine garden"),
        (
            "company-vault",
            422,
            "scope mismatch: garden scope is 'company' but fact scope is 'team'",
        ),
        ("closed", 403, "not a member of this garden"),
    ],
)
async def test_promote_target_refusals_write_nothing(
    harness: NodeHarness, cast: Cast, target: str, status: int, detail: str
) -> None:
    await cast["owner"].post("/v1/gardens", json={"slug": "company-vault", "name": "c"})
    await cast["owner"].post("/v1/gardens", json={"slug": "closed", "name": "c", "scope": "team"})
    fact = await held(cast)
    before = count_rows(harness)
    refused = await cast["moderator"].post(
        f"/v1/gardens/{GARDEN}/promote", json={"fact_id": fact["id"], "target_garden_id": target}
    )
    assert (refused.status_code, refused.json()) == (status, {"detail": detail})
    assert count_rows(harness) == before
    assert hold_state(harness, fact["id"])[0] == "pending"


@pytest.mark.parametrize("action", ["promote", "reject"])
async def test_garden_route_refusals(harness: NodeHarness, cast: Cast, action: str) -> None:
    await cast["owner"].post("/v1/gardens", json={"slug": "plain", "name": "p", "scope": "team"})
    fact = await held(cast)
    url = f"/v1/gardens/{GARDEN}/{action}"
    before = count_rows(harness)
    for who in ("writer", "reader", "outsider"):
        refused = await cast[who].post(url, json={"fact_id": fact["id"]})
        assert (refused.status_code, refused.json()) == (403, {"detail": MODERATOR_TEXT})
    missing = await cast["owner"].post(f"/v1/gardens/nope/{action}", json={"fact_id": fact["id"]})
    assert (missing.status_code, missing.json()) == (404, {"detail": "garden not found"})
    plain = await cast["owner"].post(f"/v1/gardens/plain/{action}", json={"fact_id": fact["id"]})
    assert (plain.status_code, plain.json()) == (
        422, {"detail": "this endpoint is only valid for quarantine gardens"},
    )  # fmt: skip
    for fact_id in ("00000000-0000-4000-8000-000000000000", "not-a-fact"):
        unknown = await cast["owner"].post(url, json={"fact_id": fact_id})
        assert (unknown.status_code, unknown.json()) == (
            404, {"detail": "fact not found in quarantine garden"},
        )  # fmt: skip
    for body in ({}, {"fact_id": ""}, {"fact_id": fact["id"], "reason": 5}):
        assert (await cast["owner"].post(url, json=body)).status_code == 422
    assert count_rows(harness) == before
    assert hold_state(harness, fact["id"])[0] == "pending"


# -- reject -------------------------------------------------------------------------------
async def test_reject_retracts_the_held_fact(harness: NodeHarness, cast: Cast) -> None:
    fact = await held(cast)
    rejected = await cast["owner"].post(
        f"/v1/gardens/{GARDEN}/reject", json={"fact_id": fact["id"], "reason": "spam"}
    )
    assert rejected.status_code == 200
    body = rejected.json()
    assert (body["fact_id"], body["action"], body["acted_by"]) == (
        fact["id"],
        "rejected",
        "user:owner",
    )
    assert hold_state(harness, fact["id"]) == ("rejected", "user:owner", "spam", None)
    assert raw_rows(
        harness, "SELECT reason FROM fact_retractions WHERE fact_id = ?", (fact["id"],)
    ) == [("quarantine_rejected",)]
    listed = await cast["owner"].get("/v1/quarantine", params={"quarantine_status": "rejected"})
    assert [(i["fact_id"], i["quarantine_reason"]) for i in listed.json()["items"]] == [
        (fact["id"], "spam")
    ]
    for action in ("reject", "promote"):
        again = await cast["owner"].post(
            f"/v1/gardens/{GARDEN}/{action}", json={"fact_id": fact["id"]}
        )
        assert (again.status_code, again.json()) == (409, {"detail": "fact_not_quarantine_pending"})
    event = raw_rows(
        harness, "SELECT entity_uri, detail FROM audit_log WHERE event_type = 'quarantine_reject'"
    )
    assert event[0][0] == "user:owner"
    assert '"reason":"spam"' in event[0][1]


# -- /v1/quarantine/{fact_id}/admit | reject ----------------------------------------------
async def test_admit_and_reject_by_fact_id(harness: NodeHarness, cast: Cast) -> None:
    target = await vault(cast)
    first, second = await held(cast), await held(cast, relation="pref:other")
    admitted = await cast["moderator"].post(
        f"/v1/quarantine/{first['id']}/admit",
        params={"target_garden_id": target["id"], "reason": "ok"},
    )
    assert admitted.status_code == 200, admitted.text
    assert (admitted.json()["action"], admitted.json()["target_garden_id"]) == (
        "admitted",
        target["id"],
    )
    assert hold_state(harness, first["id"]) == ("promoted", "user:moderator", "ok", target["id"])
    rejected = await cast.admin.post(
        f"/v1/quarantine/{second['id']}/reject", params={"reason": "no"}
    )
    assert (rejected.status_code, rejected.json()["action"]) == (200, "rejected")
    assert hold_state(harness, second["id"])[:3] == ("rejected", "agent:admin", "no")
    again = await cast["moderator"].post(f"/v1/quarantine/{first['id']}/reject")
    assert (again.status_code, again.json()) == (409, {"detail": "fact_not_quarantine_pending"})


@pytest.mark.parametrize("action", ["admit", "reject"])
async def test_fact_id_route_refusals(harness: NodeHarness, cast: Cast, action: str) -> None:
    fact = await held(cast)
    before = count_rows(harness)
    lurker = await cast["lurker"].post(f"/v1/quarantine/{fact['id']}/{action}")
    assert (lurker.status_code, lurker.json()) == (403, {"detail": "write permission required"})
    for who in ("writer", "outsider"):
        refused = await cast[who].post(f"/v1/quarantine/{fact['id']}/{action}")
        assert (refused.status_code, refused.json()) == (403, {"detail": MODERATOR_TEXT})
    for fact_id in ("00000000-0000-4000-8000-000000000000", "x"):
        missing = await cast["moderator"].post(f"/v1/quarantine/{fact_id}/{action}")
        assert (missing.status_code, missing.json()) == (
            404,
            {"detail": "quarantined fact not found"},
        )
    long_reason = await cast["moderator"].post(
        f"/v1/quarantine/{fact['id']}/{action}", params={"reason": "x" * 5000}
    )
    assert long_reason.status_code == 422
    assert count_rows(harness) == before
    assert hold_state(harness, fact["id"])[0] == "pending"


# -- deleting a quarantine garden, final decisions ----------------------------------------
async def test_a_quarantine_garden_with_pending_facts_is_not_deleted(
    harness: NodeHarness, cast: Cast
) -> None:
    fact = await held(cast)
    refused = await cast["owner"].delete(f"/v1/gardens/{GARDEN}")
    assert (refused.status_code, refused.json()) == (
        409,
        {"detail": "quarantine_has_pending_facts"},
    )
    assert count_rows(harness, "gardens") == 1
    await cast["owner"].post(f"/v1/gardens/{GARDEN}/reject", json={"fact_id": fact["id"]})
    assert (await cast["owner"].delete(f"/v1/gardens/{GARDEN}")).status_code == 204


async def test_decisions_are_final_in_the_database(cast: Cast) -> None:
    fact = await held(cast)
    await cast["owner"].post(f"/v1/gardens/{GARDEN}/reject", json={"fact_id": fact["id"]})
    with pg.RawConnection(cast.harness.node.settings) as conn:
        for sql in (
            "UPDATE fact_quarantine SET status = 'pending'",
            "DELETE FROM fact_quarantine",
        ):
            with pytest.raises(pg.INTEGRITY_ERRORS):
                conn.execute(sql)
