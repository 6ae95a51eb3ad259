"""Garden and member routes: upstream's shapes, status codes and texts (wire reference §1.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import NodeHarness
from tests.facts.support import count_rows, raw_rows
from tests.gardens.support import GARDEN, PRINCIPALS, Cast, cast_of

GARDEN_KEYS = [
    "id", "garden_id", "slug", "name", "scope", "description", "created_by", "created_at",
    "members", "quarantine",
]  # fmt: skip
ALICE = "stigmem://testnode/user/alice"
ALICE_PATH = "stigmem%3A%2F%2Ftestnode%2Fuser%2Falice"
SLUG_ERROR = "slug must match ^[a-z0-9][a-z0-9\\-]{0,62}$"


@pytest.fixture
async def cast(harness: NodeHarness) -> AsyncIterator[Cast]:
    async with cast_of(harness) as c:
        yield c


def _gardens(harness: NodeHarness) -> int:
    return count_rows(harness, "gardens")


# -- create -------------------------------------------------------------------------------
async def test_create_returns_the_garden_record_with_its_creator_as_admin(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    created = await client.post(
        "/v1/gardens",
        json={"slug": "Conf-Alpha", "name": "Alpha", "scope": "team", "description": "d"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert list(body) == GARDEN_KEYS
    assert body["slug"] == "conf-alpha"  # lowercased, as upstream
    assert body["garden_id"] == "stigmem://localhost:8765/garden/conf-alpha"
    assert (body["scope"], body["description"], body["quarantine"]) == ("team", "d", False)
    assert body["created_by"] == "agent:admin"
    assert [(m["entity_uri"], m["role"]) for m in body["members"]] == [("agent:admin", "admin")]
    events = raw_rows(harness, "SELECT entity_uri, detail FROM audit_log WHERE event_type = ?",
                      ("garden_created",))  # fmt: skip
    assert len(events) == 1
    assert events[0][0] == "agent:admin"
    assert body["id"] in events[0][1]


async def test_create_defaults_to_company_scope(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/gardens", json={"slug": "c", "name": "C"})
    assert created.status_code == 201
    assert created.json()["scope"] == "company"


@pytest.mark.parametrize(
    ("body", "detail_is_list"),
    [
        ({"slug": "Invalid_Slug!", "name": "x", "scope": "team"}, False),
        ({"slug": "-leading-dash", "name": "x", "scope": "team"}, False),
        ({"slug": "a" * 64, "name": "x", "scope": "team"}, True),
        ({"slug": "", "name": "x", "scope": "team"}, True),
        ({"slug": "ok", "name": "x", "scope": "universe"}, True),
        ({"slug": "ok", "name": "   ", "scope": "team"}, True),
        ({"slug": "ok", "scope": "team"}, True),
        ({"slug": "ok", "name": "x", "quarantine": "maybe"}, True),
    ],
)
async def test_create_rejects_bad_input_and_writes_nothing(
    harness: NodeHarness, client: httpx.AsyncClient, body: dict[str, object], detail_is_list: bool
) -> None:
    refused = await client.post("/v1/gardens", json=body)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    if detail_is_list:
        assert isinstance(detail, list)
    else:
        assert detail == SLUG_ERROR
    assert _gardens(harness) == 0
    assert count_rows(harness, "garden_members") == 0


async def test_duplicate_slug_is_409_and_writes_nothing(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    assert (await client.post("/v1/gardens", json={"slug": "dup", "name": "a"})).status_code == 201
    facts_before = count_rows(harness)
    again = await client.post("/v1/gardens", json={"slug": "DUP", "name": "b"})
    assert again.status_code == 409
    assert again.json() == {"detail": "slug already exists"}
    assert (_gardens(harness), count_rows(harness)) == (1, facts_before)


async def test_create_needs_write(harness: NodeHarness, cast: Cast) -> None:
    refused = await cast["lurker"].post("/v1/gardens", json={"slug": "mine", "name": "m"})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "write permission required"}
    assert _gardens(harness) == 1


# -- list and get -------------------------------------------------------------------------
async def test_list_shows_writers_every_garden_and_others_their_own(cast: Cast) -> None:
    other = await cast.admin.post("/v1/gardens", json={"slug": "other", "name": "O"})
    assert other.status_code == 201
    everything = (await cast["outsider"].get("/v1/gardens")).json()
    assert sorted(g["slug"] for g in everything) == [GARDEN, "other"]
    assert all(g["members"] == [] for g in everything)
    assert (await cast["lurker"].get("/v1/gardens")).json() == []
    await cast["owner"].post(
        f"/v1/gardens/{GARDEN}/members", json={"entity_uri": "user:lurker", "role": "reader"}
    )
    assert [g["slug"] for g in (await cast["lurker"].get("/v1/gardens")).json()] == [GARDEN]


@pytest.mark.parametrize("name", [GARDEN, "ATLAS", "uuid"])
async def test_get_by_slug_or_uuid(cast: Cast, name: str) -> None:
    key = cast.garden["id"] if name == "uuid" else name
    got = await cast["reader"].get(f"/v1/gardens/{key}")
    assert got.status_code == 200, got.text
    body = got.json()
    assert list(body) == GARDEN_KEYS
    assert body["id"] == cast.garden["id"]
    roles = {m["entity_uri"]: m["role"] for m in body["members"]}
    assert roles == {uri: role for uri, _, role in PRINCIPALS.values() if role}


async def test_get_unknown_is_404_and_non_member_reader_is_403(cast: Cast) -> None:
    missing = await cast["owner"].get("/v1/gardens/no-such-garden-xyz")
    assert (missing.status_code, missing.json()) == (404, {"detail": "garden not found"})
    refused = await cast["lurker"].get(f"/v1/gardens/{GARDEN}")
    assert (refused.status_code, refused.json()) == (403, {"detail": "not a member of this garden"})
    # Upstream's "node admin" (any write holder) may read the record.
    assert (await cast["outsider"].get(f"/v1/gardens/{GARDEN}")).status_code == 200


# -- members ------------------------------------------------------------------------------
async def test_members_are_listed_to_members_only(cast: Cast) -> None:
    listed = await cast["reader"].get(f"/v1/gardens/{GARDEN}/members")
    assert listed.status_code == 200
    assert {m["entity_uri"] for m in listed.json()} == {
        uri for uri, _, role in PRINCIPALS.values() if role
    }
    assert all(list(m) == ["entity_uri", "role", "added_by", "added_at"] for m in listed.json())
    for name in ("outsider", "lurker"):
        refused = await cast[name].get(f"/v1/gardens/{GARDEN}/members")
        assert refused.status_code == 403
        assert refused.json() == {"detail": "not a member of this garden"}
    assert (await cast.admin.get(f"/v1/gardens/{GARDEN}/members")).status_code == 200
    missing = await cast["owner"].get("/v1/gardens/nope/members")
    assert (missing.status_code, missing.json()) == (404, {"detail": "garden not found"})


async def test_add_member_shape_then_duplicate_409(harness: NodeHarness, cast: Cast) -> None:
    added = await cast["owner"].post(
        f"/v1/gardens/{GARDEN}/members", json={"entity_uri": ALICE, "role": "writer"}
    )
    assert added.status_code == 201
    body = added.json()
    assert list(body) == ["entity_uri", "role", "added_by", "added_at"]
    assert (body["entity_uri"], body["role"], body["added_by"]) == (ALICE, "writer", "user:owner")
    members = count_rows(harness, "garden_members")
    again = await cast["owner"].post(
        f"/v1/gardens/{GARDEN}/members", json={"entity_uri": ALICE, "role": "reader"}
    )
    assert again.status_code == 409
    assert again.json() == {
        "detail": "entity is already a member with role 'writer'; use PATCH to change role"
    }
    assert count_rows(harness, "garden_members") == members


async def test_add_member_defaults_to_reader(cast: Cast) -> None:
    added = await cast["owner"].post(f"/v1/gardens/{GARDEN}/members", json={"entity_uri": ALICE})
    assert added.json()["role"] == "reader"


@pytest.mark.parametrize(
    "body",
    [
        {"entity_uri": ALICE, "role": "owner"},
        {"entity_uri": "", "role": "reader"},
        {"entity_uri": "   ", "role": "reader"},
        {"role": "reader"},
        {"entity_uri": ALICE, "role": None},
    ],
)
async def test_add_member_bad_input_is_422_and_writes_nothing(
    harness: NodeHarness, cast: Cast, body: dict[str, object]
) -> None:
    members, facts = count_rows(harness, "garden_members"), count_rows(harness)
    refused = await cast["owner"].post(f"/v1/gardens/{GARDEN}/members", json=body)
    assert refused.status_code == 422
    assert isinstance(refused.json()["detail"], list)
    assert (count_rows(harness, "garden_members"), count_rows(harness)) == (members, facts)


@pytest.mark.parametrize("name", ["writer", "reader", "moderator", "outsider"])
async def test_only_garden_admins_manage_members(
    harness: NodeHarness, cast: Cast, name: str
) -> None:
    members = count_rows(harness, "garden_members")
    base = f"/v1/gardens/{GARDEN}/members"
    attempts = [
        await cast[name].post(base, json={"entity_uri": ALICE, "role": "admin"}),
        await cast[name].patch(f"{base}/user:reader", json={"role": "admin"}),
        await cast[name].delete(f"{base}/user:reader"),
        await cast[name].delete(f"/v1/gardens/{GARDEN}"),
    ]
    for refused in attempts:
        assert refused.status_code == 403
        assert refused.json() == {"detail": "garden admin permission required"}
    assert count_rows(harness, "garden_members") == members
    assert _gardens(harness) == 1


async def test_patch_and_delete_take_an_encoded_entity_uri(
    harness: NodeHarness, cast: Cast
) -> None:
    base = f"/v1/gardens/{GARDEN}/members"
    await cast["owner"].post(base, json={"entity_uri": ALICE, "role": "writer"})
    patched = await cast["owner"].patch(f"{base}/{ALICE_PATH}", json={"role": "reader"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["entity_uri"], patched.json()["role"]) == (ALICE, "reader")
    removed = await cast["owner"].delete(f"{base}/{ALICE_PATH}")
    assert removed.status_code == 204
    assert removed.content == b""
    assert raw_rows(harness, "SELECT 1 FROM garden_members WHERE entity_uri = ?", (ALICE,)) == []


async def test_unknown_member_is_404(cast: Cast) -> None:
    base = f"/v1/gardens/{GARDEN}/members"
    patched = await cast["owner"].patch(f"{base}/{ALICE_PATH}", json={"role": "reader"})
    removed = await cast["owner"].delete(f"{base}/{ALICE_PATH}")
    for refused in (patched, removed):
        assert (refused.status_code, refused.json()) == (404, {"detail": "member not found"})
    bad_role = await cast["owner"].patch(f"{base}/user:reader", json={"role": "boss"})
    assert bad_role.status_code == 422


async def test_the_last_admin_stays(harness: NodeHarness, cast: Cast) -> None:
    base = f"/v1/gardens/{GARDEN}/members"
    last_admin = "cannot remove or demote the last admin; promote another member first"
    for refused in (
        await cast["owner"].patch(f"{base}/user:owner", json={"role": "writer"}),
        await cast["owner"].delete(f"{base}/user:owner"),
    ):
        assert (refused.status_code, refused.json()) == (403, {"detail": last_admin})
    assert raw_rows(harness, "SELECT role FROM garden_members WHERE entity_uri = 'user:owner'") == [
        ("admin",)
    ]
    promoted = await cast["owner"].patch(f"{base}/user:writer", json={"role": "admin"})
    assert promoted.json()["role"] == "admin"
    assert (await cast["owner"].delete(f"{base}/user:owner")).status_code == 204
    assert (
        await cast["writer"].patch(f"{base}/user:writer", json={"role": "reader"})
    ).status_code == 403


async def test_node_admin_may_manage_any_garden(cast: Cast) -> None:
    base = f"/v1/gardens/{GARDEN}/members"
    added = await cast.admin.post(base, json={"entity_uri": ALICE, "role": "reader"})
    assert added.status_code == 201
    assert added.json()["added_by"] == "agent:admin"


# -- delete -------------------------------------------------------------------------------
async def test_delete_keeps_facts_but_ends_memberships(harness: NodeHarness, cast: Cast) -> None:
    fact = await cast.garden_fact()
    missing = await cast["owner"].delete("/v1/gardens/no-such-garden-xyz")
    assert (missing.status_code, missing.json()) == (404, {"detail": "garden not found"})
    facts_before = count_rows(harness)
    deleted = await cast["owner"].delete(f"/v1/gardens/{GARDEN}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert count_rows(harness, "facts", f"id = '{fact['id']}'") == 1
    assert count_rows(harness) > facts_before  # membership facts were retracted, not removed
    assert count_rows(harness, "garden_members") == 0
    assert (await cast["owner"].get(f"/v1/gardens/{GARDEN}")).status_code == 404
    # Former members lose access; the node admin still sees the surviving fact.
    assert (await cast["owner"].get(f"/v1/facts/{fact['id']}")).status_code == 403
    assert (await cast.admin.get(f"/v1/facts/{fact['id']}")).status_code == 200
    # The slug may be reused; the new garden's members never see the old garden's facts.
    again = await cast["outsider"].post(
        "/v1/gardens", json={"slug": GARDEN, "name": "new", "scope": "team"}
    )
    assert again.status_code == 201
    assert again.json()["id"] != cast.garden["id"]
    assert (await cast["outsider"].get(f"/v1/facts/{fact['id']}")).status_code == 403
    event = raw_rows(
        harness, "SELECT entity_uri FROM audit_log WHERE event_type = 'garden_deleted'"
    )
    assert event == [("user:owner",)]
