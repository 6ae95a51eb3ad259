"""GET /v1/facts/{id} by uuid or CID, provenance, verify-cid, CID backfill status."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows


async def test_get_by_id_and_by_cid(client: httpx.AsyncClient) -> None:
    record = (await client.post("/v1/facts", json=fact_body())).json()
    by_id = await client.get(f"/v1/facts/{record['id']}")
    by_cid = await client.get(f"/v1/facts/{record['cid']}")
    assert by_id.status_code == by_cid.status_code == 200
    assert by_id.json() == by_cid.json()
    assert by_id.json()["id"] == record["id"]
    upper = await client.get(f"/v1/facts/{record['id'].upper()}")
    assert upper.status_code == 404  # ids are stored lowercase; an upper-case uuid is unknown


@pytest.mark.parametrize(
    "bad",
    ["sha256:xyz", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha256:" + "a" * 65, "sha256:"],
)
async def test_malformed_cid_is_400(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get(f"/v1/facts/{bad}")
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "cid_malformed"


@pytest.mark.parametrize("bad", ["nope", "123", "not-a-uuid-at-all-0000000000000000000"])
async def test_malformed_fact_id_is_400(client: httpx.AsyncClient, bad: str) -> None:
    for path in (f"/v1/facts/{bad}", f"/v1/facts/{bad}/provenance"):
        response = await client.get(path)
        assert response.status_code == 400
        assert response.json()["detail"]["code"] == "invalid_fact_id"
    response = await client.post(f"/v1/facts/{bad}/verify-cid")
    assert response.status_code == 400


async def test_unknown_fact_is_404(client: httpx.AsyncClient) -> None:
    for path in (f"/v1/facts/{uuid.uuid4()}", "/v1/facts/sha256:" + "0" * 64):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "fact not found"}
        assert (await client.get(f"{path}/provenance")).status_code == 404
        assert (await client.post(f"{path}/verify-cid")).status_code == 404


async def test_provenance(client: httpx.AsyncClient) -> None:
    a = (await client.post("/v1/facts", json=fact_body())).json()
    b = (await client.post("/v1/facts", json=fact_body(entity="user:bob"))).json()
    missing_id, missing_cid = str(uuid.uuid4()), "sha256:" + "1" * 64
    derived = (
        await client.post(
            "/v1/facts",
            json=fact_body(
                entity="user:summary",
                derived_from=[
                    {"hash": a["cid"]},
                    {"fact_id": b["id"]},
                    {"fact_id": missing_id},
                    {"hash": missing_cid},
                ],
            ),
        )
    ).json()
    assert derived["derived_from"][0] == {"hash": a["cid"]}
    response = await client.get(f"/v1/facts/{derived['id']}/provenance")
    assert response.status_code == 200
    assert response.json() == {
        "fact_id": derived["id"],
        "cid": derived["cid"],
        "derived_from": [
            {"hash": a["cid"], "fact_id": a["id"], "entity": "user:alice", "exists": True},
            {"hash": b["cid"], "fact_id": b["id"], "entity": "user:bob", "exists": True},
            {"hash": None, "fact_id": None, "entity": None, "exists": False},
            {"hash": missing_cid, "fact_id": None, "entity": None, "exists": False},
        ],
    }


async def test_verify_cid(client: httpx.AsyncClient) -> None:
    record = (
        await client.post("/v1/facts", json=fact_body(value={"type": "number", "v": 3}))
    ).json()
    response = await client.post(f"/v1/facts/{record['id']}/verify-cid")
    assert response.status_code == 200
    assert response.json() == {
        "cid_valid": True,
        "computed_cid": record["cid"],
        "stored_cid": record["cid"],
        "mismatch_reason": None,
    }
    by_cid = await client.post(f"/v1/facts/{record['cid']}/verify-cid", json={})
    assert by_cid.json()["cid_valid"] is True


async def test_cid_backfill_status(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    await client.post("/v1/facts", json=fact_body())
    response = await client.get("/v1/admin/cid-backfill/status")
    assert response.json() == {
        "total_facts": count_rows(harness),
        "backfilled_facts": count_rows(harness),
        "pending_facts": 0,
        "backfill_complete": True,
    }
