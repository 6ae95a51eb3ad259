"""Registration, verification, approval and removal of peers (in-process node, real HTTP to
a fake peer's well-known document)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from stigmem_node.federation.declarations import format_signed_at
from stigmem_node.federation.keys import NodeKeys
from tests.conftest import NodeHarness
from tests.federation.conftest import declaration_body, register
from tests.federation.fakepeer import FakePeer


async def peers(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/federation/peers")
    assert response.status_code == 200
    return list(response.json()["peers"])


async def events(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/federation/audit", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


async def test_register_then_approve(fed: NodeHarness, fake: FakePeer) -> None:
    async with fed.client() as client:
        response = await client.post("/v1/federation/peers", json=declaration_body(fake))
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"peer_id", "status", "verified_at"}
        assert body["status"] == "pending_approval"
        assert ("GET", "/.well-known/stigmem") in [(m, p) for m, p, _ in fake.requests]
        [listed] = await peers(client)
        assert listed == {
            "peer_id": body["peer_id"],
            "node_id": fake.node_id,
            "node_url": fake.url,
            "status": "pending_approval",
            "allowed_scopes": ["company", "public"],
            "established_at": None,
            "pubkey_fingerprint": fake.keys.fingerprint,
        }
        approved = await client.post(
            f"/v1/federation/peers/{body['peer_id']}/approve",
            json={"pubkey_fingerprint": fake.keys.fingerprint},
        )
        assert approved.status_code == 200
        assert approved.json()["status"] == "active"
        assert set(approved.json()) == {"peer_id", "node_id", "status", "approved_at"}
        [listed] = await peers(client)
        assert listed["status"] == "active"
        assert listed["established_at"]
        types = [e["event_type"] for e in await events(client, peer_id=body["peer_id"])]
        assert types == ["peer_approved", "peer_verified", "peer_registered"]


async def test_approval_errors(fed: NodeHarness, fake: FakePeer) -> None:
    async with fed.client() as client:
        peer_id = await register(client, fake, approve=False)
        wrong = await client.post(
            f"/v1/federation/peers/{peer_id}/approve",
            json={"pubkey_fingerprint": "sha256:" + "0" * 64},
        )
        assert (wrong.status_code, wrong.json()) == (400, {"detail": "fingerprint mismatch"})
        assert (await peers(client))[0]["status"] == "pending_approval"
        [failed] = await events(client, event_type="peer_approval_failed")
        assert failed["detail"]["reason"] == "fingerprint mismatch"
        missing = await client.post(
            "/v1/federation/peers/nope/approve", json={"pubkey_fingerprint": fake.keys.fingerprint}
        )
        assert (missing.status_code, missing.json()) == (404, {"detail": "peer not found"})
        invalid = await client.post(f"/v1/federation/peers/{peer_id}/approve", json={})
        assert invalid.status_code == 422
        fingerprint = {"pubkey_fingerprint": fake.keys.fingerprint}
        ok = await client.post(f"/v1/federation/peers/{peer_id}/approve", json=fingerprint)
        assert ok.status_code == 200
        again = await client.post(f"/v1/federation/peers/{peer_id}/approve", json=fingerprint)
        assert again.status_code == 409
        assert again.json() == {"detail": "peer is not pending approval (status=active)"}


async def test_permissions(fed: NodeHarness, fake: FakePeer) -> None:
    async with fed.client() as admin:
        minted = await admin.post(
            "/v1/auth/keys", json={"entity_uri": "agent:fed-only", "permissions": ["federate"]}
        )
        assert minted.status_code == 201, minted.text
        reader = await admin.post(
            "/v1/auth/keys", json={"entity_uri": "agent:reader", "permissions": ["read"]}
        )
    async with fed.client(minted.json()["raw_key"]) as federate:
        peer_id = await register(federate, fake, approve=False)
        denied = await federate.post(
            f"/v1/federation/peers/{peer_id}/approve",
            json={"pubkey_fingerprint": fake.keys.fingerprint},
        )
        assert (denied.status_code, denied.json()) == (403, {"detail": "admin:federation required"})
        removal = await federate.delete(f"/v1/federation/peers/{peer_id}")
        assert removal.status_code == 403
        assert (await peers(federate))[0]["status"] == "pending_approval"
    async with fed.client(reader.json()["raw_key"]) as read_only:
        for response in (
            await read_only.get("/v1/federation/peers"),
            await read_only.get("/v1/federation/audit"),
            await read_only.post("/v1/federation/peers", json=declaration_body(fake)),
        ):
            assert (response.status_code, response.json()) == (
                403,
                {"detail": "federate permission required"},
            )
    async with fed.client(None) as anonymous:
        assert (await anonymous.get("/v1/federation/peers")).status_code == 401


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda p, b: b.update(declaration_sig=NodeKeys.generate().sign(b"x")),
            "invalid declaration signature",
        ),
        (
            lambda p, b: b.update(
                signed_at=format_signed_at(datetime.now(UTC) - timedelta(hours=2))
            ),
            "declaration signed more than 3600s ago",
        ),
        (lambda p, b: b.update(signed_at="yesterday"), "signed_at is not an ISO 8601 timestamp"),
        (
            lambda p, b: setattr(
                p, "well_known", {**p.document(), "node_id": "stigmem:node:other"}
            ),
            "node_id differs from the peer's well-known document",
        ),
        (
            lambda p, b: setattr(
                p, "well_known", {**p.document(), "federation_pubkey": NodeKeys.generate().pubkey}
            ),
            "federation_pubkey differs from the peer's well-known document",
        ),
        (
            lambda p, b: setattr(p, "well_known_status", 500),
            "well-known document unavailable: well-known answered 500",
        ),
        (
            lambda p, b: setattr(p, "redirect_to", "http://127.0.0.1:9/.well-known/stigmem"),
            "well-known document unavailable: well-known answered 302",
        ),
    ],
)
async def test_failed_verification_is_rejected_and_audited(
    fed: NodeHarness, fake: FakePeer, mutate: Any, reason: str
) -> None:
    body = declaration_body(fake)
    mutate(fake, body)
    if "signed_at" in body and body["signed_at"] != declaration_body(fake)["signed_at"]:
        # re-sign so that only the age (or format) is wrong, not the signature
        from stigmem_node.federation.declarations import Declaration

        redone = Declaration(
            fake.node_id, fake.url, fake.keys.pubkey, body["allowed_scopes"], body["signed_at"]
        )
        body["declaration_sig"] = fake.keys.sign(redone.signed_bytes())
    async with fed.client() as client:
        response = await client.post("/v1/federation/peers", json=body)
        assert response.status_code == 201
        assert response.json()["status"] == "rejected"
        assert response.json()["verified_at"] is None
        detail = await client.get(f"/v1/federation/peers/{response.json()['peer_id']}")
        assert detail.json()["status_reason"] == reason
        [rejected] = await events(client, event_type="peer_rejected")
        assert rejected["detail"]["reason"] == reason
        # Re-registration after a rejection is allowed (upstream: 409 forever).
        fake.well_known, fake.well_known_status, fake.redirect_to = None, 200, None
        again = await client.post("/v1/federation/peers", json=declaration_body(fake))
        assert again.status_code == 201
        assert again.json()["status"] == "pending_approval"
        assert again.json()["peer_id"] != response.json()["peer_id"]
        assert len(await peers(client)) == 1


async def test_duplicates_conflict(fed: NodeHarness, fake: FakePeer) -> None:
    async with fed.client() as client:
        await register(client, fake)
        again = await client.post("/v1/federation/peers", json=declaration_body(fake))
        assert (again.status_code, again.json()) == (
            409,
            {"detail": "peer already registered (status=active)"},
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"allowed_scopes": ["public", "secret"]},
        {"allowed_scopes": []},
        {"node_url": "ftp://127.0.0.1/x"},
        {"node_url": "http://user:pw@127.0.0.1:1"},
        {"federation_pubkey": "not-a-key"},
        {"node_id": ""},
        {"declaration_sig": None},
    ],
)
async def test_malformed_declarations_are_422_and_write_nothing(
    fed: NodeHarness, fake: FakePeer, overrides: dict[str, Any]
) -> None:
    async with fed.client() as client:
        body = {k: v for k, v in declaration_body(fake, **overrides).items() if v is not None}
        response = await client.post("/v1/federation/peers", json=body)
        assert response.status_code == 422
        assert isinstance(response.json()["detail"], list)
        assert await peers(client) == []
        assert await events(client) == []
        assert fake.requests == []


async def test_self_registration_is_refused(fed: NodeHarness, fake: FakePeer) -> None:
    async with fed.client() as client:
        body = declaration_body(fake, node_id=fed.node.node_id)
        response = await client.post("/v1/federation/peers", json=body)
        assert response.status_code == 400
        assert response.json()["detail"]["code"] == "self_registration"
        assert await peers(client) == []


async def test_remove_peer(fed: NodeHarness, fake: FakePeer) -> None:
    async with fed.client() as client:
        peer_id = await register(client, fake)
        removed = await client.delete(f"/v1/federation/peers/{peer_id}")
        assert removed.status_code == 200
        assert removed.json() == {"peer_id": peer_id, "node_id": fake.node_id, "status": "removed"}
        assert await peers(client) == []
        gone = await client.delete(f"/v1/federation/peers/{peer_id}")
        assert (gone.status_code, gone.json()) == (404, {"detail": "peer not found"})
        assert next(e["event_type"] for e in await events(client)) == "peer_removed"
        # A removed peer may register again.
        await register(client, fake)


async def test_well_known_federation_fields_only_when_enabled(fed: NodeHarness) -> None:
    async with fed.client(None) as client:
        body = (await client.get("/.well-known/stigmem")).json()
    assert body["federation"] == "enabled"
    assert body["federation_pubkey"] == fed.node.federation.keys.pubkey
    assert "=" not in body["federation_pubkey"]
    assert body["federation_version"] == "0.5"
    assert body["federation_endpoints"] == {
        "peers": "/v1/federation/peers",
        "facts": "/v1/federation/facts",
        "push": "/v1/federation/facts/push",
    }
    assert body["pull_interval_s"] == 3600


async def test_well_known_without_federation(client: httpx.AsyncClient) -> None:
    body = (await client.get("/.well-known/stigmem")).json()
    assert body["federation"] == "disabled"
    assert not {"federation_pubkey", "federation_endpoints", "pull_interval_s"} & set(body)
