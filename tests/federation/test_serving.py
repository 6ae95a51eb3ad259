"""The peer-token routes: authentication (every 401 reason over HTTP), fact pages, push."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from stigmem_node.facts.cid import compute_cid
from stigmem_node.federation.keys import NodeKeys
from stigmem_node.federation.tokens import mint_peer_token
from tests.conftest import NodeHarness, fact_body, start_node
from tests.federation.conftest import peer_token, register
from tests.federation.fakepeer import FakePeer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def pull(client: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await client.get("/v1/federation/facts", params=params, headers=bearer(token))


async def audit(client: httpx.AsyncClient, event_type: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/federation/audit", params={"event_type": event_type})
    return list(response.json()["entries"])


async def test_token_failures_are_401_with_upstream_reasons_and_audited(
    fed: NodeHarness, fake: FakePeer
) -> None:
    node_id = fed.node.node_id
    async with fed.client() as client:
        stranger = FakePeer()
        response = await pull(client, peer_token(stranger, node_id))
        assert (response.status_code, response.json()) == (401, {"detail": "peer not registered"})
        assert response.headers["www-authenticate"] == "Bearer"
        [event] = await audit(client, "rejected_token")
        assert event["peer_id"] == stranger.node_id
        assert event["detail"] == {"reason": "peer_not_found", "iss": stranger.node_id}

        peer_id = await register(client, fake, approve=False)
        response = await pull(client, peer_token(fake, node_id))
        assert response.json() == {"detail": "peer_not_approved"}
        await client.post(
            f"/v1/federation/peers/{peer_id}/approve",
            json={"pubkey_fingerprint": fake.keys.fingerprint},
        )

        forged = mint_peer_token(
            NodeKeys.generate(), iss=fake.node_id, sub=node_id, scopes=["public"], now_ms=1
        )
        cases = {
            "malformed token": "not-a-jwt",
            "invalid_signature": forged,
            "token_expired": peer_token(fake, node_id, now_ms=1_000_000_000_000),
            "invalid_sub": peer_token(fake, "stigmem:node:someone-else"),
        }
        for reason, token in cases.items():
            response = await pull(client, token)
            assert (response.status_code, response.json()) == (401, {"detail": reason}), reason

        token = peer_token(fake, node_id)
        assert (await pull(client, token)).status_code == 200
        replay = await pull(client, token)
        assert (replay.status_code, replay.json()) == (401, {"detail": "nonce_already_seen"})
        [replayed] = await audit(client, "replay_attempt")
        assert replayed["peer_id"] == peer_id
        reasons = {e["detail"]["reason"] for e in await audit(client, "rejected_token")}
        assert reasons == {
            "peer_not_found",
            "peer_not_approved",
            "invalid_signature",
            "token_expired",
            "invalid_sub",
        }


async def test_no_credentials_is_401_before_anything(fed: NodeHarness) -> None:
    async with fed.client(None) as anonymous:
        pull = await anonymous.get("/v1/federation/facts")
        assert (pull.status_code, pull.json()) == (401, {"detail": "peer token required"})
        assert pull.headers["www-authenticate"] == "Bearer"
        for path in ("/v1/federation/facts/push", "/v1/federation/facts"):
            push = await anonymous.post(path, json={"facts": []})
            assert (push.status_code, push.json()) == (
                401,
                {"detail": "peer token or X-Stigmem-Capability header required"},
            )
            assert push.headers["www-authenticate"] == "Bearer"


async def seed(client: httpx.AsyncClient) -> dict[str, str]:
    ids = {}
    for scope in ("local", "team", "company", "public"):
        response = await client.post(
            "/v1/facts", json=fact_body(entity=f"user:{scope}", scope=scope)
        )
        ids[scope] = response.json()["id"]
    return ids


async def test_pages_serve_permitted_scopes_in_commit_order(
    fed: NodeHarness, fake: FakePeer
) -> None:
    node_id = fed.node.node_id
    async with fed.client() as client:
        await register(client, fake, ["local", "team", "company", "public"])
        ids = await seed(client)
        await client.post(
            "/v1/facts",
            json=fact_body(entity="user:n", scope="public", value={"type": "number", "v": 42}),
        )
        page = (
            await pull(client, peer_token(fake, node_id, ["local", "team", "company", "public"]))
        ).json()
        assert set(page) == {"facts", "cursor", "has_more"}
        served = [f["id"] for f in page["facts"]]
        assert served[:2] == [ids["company"], ids["public"]]  # no local, no team (not allowed)
        assert page["facts"][2]["value"]["v"] == 42
        assert isinstance(page["facts"][2]["value"]["v"], int)
        assert len(page["facts"][0]) == 26
        assert page["has_more"] is False
        # Paging: one at a time, the cursor continues where the last page ended.
        first = (await pull(client, peer_token(fake, node_id), limit=1)).json()
        assert first["has_more"] is True
        assert [f["id"] for f in first["facts"]] == [ids["company"]]
        second = (
            await pull(client, peer_token(fake, node_id), limit=1, cursor=first["cursor"])
        ).json()
        assert [f["id"] for f in second["facts"]] == [ids["public"]]
        end = (await pull(client, peer_token(fake, node_id), cursor=page["cursor"])).json()
        assert end == {"facts": [], "cursor": page["cursor"], "has_more": False}
        only = (await pull(client, peer_token(fake, node_id), scope="public")).json()
        assert {f["scope"] for f in only["facts"]} == {"public"}
        # A narrowed page's cursor does not jump past the scopes it left out.
        narrowed = (await pull(client, peer_token(fake, node_id), scope="company")).json()
        rest = (await pull(client, peer_token(fake, node_id), cursor=narrowed["cursor"])).json()
        assert [f["id"] for f in rest["facts"]] == served[1:]


async def test_scope_requests_outside_the_declarations_are_403(
    fed: NodeHarness, fake: FakePeer
) -> None:
    node_id = fed.node.node_id
    async with fed.client() as client:
        await register(client, fake, ["public"])
        response = await pull(client, peer_token(fake, node_id), scope="company")
        assert (response.status_code, response.json()) == (
            403,
            {"detail": "scope not permitted for this peer"},
        )
        [violation] = await audit(client, "scope_violation")
        assert violation["detail"] == {"requested_scope": "company", "permitted": ["public"]}
        response = await pull(client, peer_token(fake, node_id, ["company"]))
        assert (response.status_code, response.json()) == (403, {"detail": "no permitted scopes"})


async def test_bad_page_parameters(fed: NodeHarness, fake: FakePeer) -> None:
    node_id = fed.node.node_id
    async with fed.client() as client:
        await register(client, fake)
        for params in ({"limit": 0}, {"limit": 501}, {"scope": "secret"}):
            assert (await pull(client, peer_token(fake, node_id), **params)).status_code == 422
        response = await pull(client, peer_token(fake, node_id), cursor="1796312336189.0")
        assert response.status_code == 400
        assert response.json()["detail"]["code"] == "invalid_cursor"


async def test_received_company_facts_are_never_served_but_public_ones_are_relayed(
    fed: NodeHarness, fake: FakePeer
) -> None:
    node_id = fed.node.node_id
    other = FakePeer()
    with other.serving():
        async with fed.client() as client:
            await relay_checks(client, node_id, fake, other)


async def relay_checks(
    client: httpx.AsyncClient, node_id: str, fake: FakePeer, other: FakePeer
) -> None:
    await register(client, fake)
    await register(client, other)
    facts = [push_fact("company"), push_fact("public")]
    pushed = await client.post(
        "/v1/federation/facts/push",
        json={"facts": facts},
        headers=bearer(peer_token(fake, node_id)),
    )
    assert pushed.status_code == 202, pushed.text
    to_other = (await pull(client, peer_token(other, node_id))).json()["facts"]
    assert [f["id"] for f in to_other] == [facts[1]["id"]]
    assert to_other[0]["received_from"] == fake.node_id
    assert to_other[0]["origin_node_id"] == fake.node_id
    back_to_sender = (await pull(client, peer_token(fake, node_id))).json()["facts"]
    assert back_to_sender == []


def push_fact(scope: str, **overrides: Any) -> dict[str, Any]:
    fact: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "entity": f"user:{uuid.uuid4().hex[:8]}",
        "relation": "pref:color",
        "value": {"type": "string", "v": "blue"},
        "source": "agent:remote",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "hlc": None,
        "confidence": 1.0,
        "scope": scope,
    }
    fact.update(overrides)
    fact.setdefault(
        "cid",
        compute_cid(
            entity=fact["entity"],
            relation=fact["relation"],
            value_type=fact["value"]["type"],
            value_v=str(fact["value"]["v"]),
            source=fact["source"],
            confidence=fact["confidence"],
            scope=fact["scope"],
        ),
    )
    return fact


async def test_push_accepts_good_facts_and_reports_bad_ones(
    fed: NodeHarness, fake: FakePeer
) -> None:
    node_id = fed.node.node_id
    async with fed.client() as client:
        await register(client, fake, ["public"])
        good, local, forged = (
            push_fact("public"),
            push_fact("local"),
            push_fact("public", source=node_id),
        )
        body = {"facts": [good, local, forged, good]}
        response = await client.post(
            "/v1/federation/facts/push", json=body, headers=bearer(peer_token(fake, node_id))
        )
        assert response.status_code == 202
        assert response.json() == {
            "accepted": 2,
            "rejected": 2,
            "errors": [
                {"fact_id": local["id"], "error": "scope_not_permitted"},
                {"fact_id": forged["id"], "error": "source_not_owned"},
            ],
        }
        stored = (await client.get(f"/v1/facts/{good['id']}")).json()
        assert stored["received_from"] == fake.node_id
        assert stored["timestamp"] == "2026-01-01T00:00:00.000000+00:00"
        for rejected in (local, forged):
            assert (await client.get(f"/v1/facts/{rejected['id']}")).status_code == 404
        meta = (
            await client.get(
                "/v1/facts", params={"entity": good["id"], "relation": "stigmem:received_from"}
            )
        ).json()
        assert [(f["value"]["v"], f["scope"]) for f in meta["facts"]] == [(fake.node_id, "local")]
        # The alias route is the same push; a replay of the same facts is accepted, no copies.
        again = await client.post(
            "/v1/federation/facts",
            json={"facts": [good]},
            headers=bearer(peer_token(fake, node_id)),
        )
        assert again.json() == {"accepted": 1, "rejected": 0, "errors": []}
        [violation] = await audit(client, "scope_violation")
        assert violation["detail"]["fact_id"] == local["id"]
        reasons = [e["detail"]["reason"] for e in await audit(client, "rejected_fact")]
        assert reasons == ["source_not_owned"]


async def test_push_bad_bodies_are_422_and_write_nothing(fed: NodeHarness, fake: FakePeer) -> None:
    node_id = fed.node.node_id
    async with fed.client() as client:
        await register(client, fake)
        for body in ({}, {"facts": "x"}, {"facts": [push_fact("public")] * 1001}):
            response = await client.post(
                "/v1/federation/facts/push", json=body, headers=bearer(peer_token(fake, node_id))
            )
            assert response.status_code == 422
        assert await audit(client, "batch_accepted") == []


async def test_push_disabled_is_405(tmp_path: Any, fake: FakePeer) -> None:
    async for node in start_node(tmp_path, federation_enabled=True, federation_insecure=True):
        async with node.client() as client:
            await register(client, fake)
            response = await client.post(
                "/v1/federation/facts/push",
                json={"facts": []},
                headers=bearer(peer_token(fake, node.node.node_id)),
            )
            assert (response.status_code, response.json()) == (
                405,
                {"detail": "push replication not enabled on this node"},
            )


@pytest.mark.parametrize("path", ["/v1/federation/facts"])
async def test_federation_disabled_serves_nothing(tmp_path: Any, fake: FakePeer, path: str) -> None:
    async for node in start_node(tmp_path):
        async with node.client() as client:
            response = await client.get(path, headers=bearer(peer_token(fake, node.node.node_id)))
            assert response.status_code == 403
            assert response.json()["detail"]["code"] == "federation_disabled"


async def test_audit_pages_with_a_cursor(fed: NodeHarness, fake: FakePeer) -> None:
    async with fed.client() as client:
        await register(client, fake)  # registered, verified, approved: three events
        first = (await client.get("/v1/federation/audit", params={"limit": 2})).json()
        assert first["has_more"] is True
        assert len(first["entries"]) == 2
        rest = (
            await client.get("/v1/federation/audit", params={"limit": 2, "cursor": first["cursor"]})
        ).json()
        assert rest["has_more"] is False
        assert rest["cursor"] is None
        types = [e["event_type"] for e in first["entries"] + rest["entries"]]
        assert types == ["peer_approved", "peer_verified", "peer_registered"]
        assert set(first["entries"][0]) == {"id", "peer_id", "event_type", "detail", "ts"}
        bad = await client.get("/v1/federation/audit", params={"cursor": "zzz"})
        assert bad.status_code == 400


async def test_push_dedups_by_id_and_content_and_refuses_collisions(
    fed: NodeHarness, fake: FakePeer
) -> None:
    node_id = fed.node.node_id
    async with fed.client() as client:
        await register(client, fake, ["public"])
        first = push_fact("public")
        same_content = {**first, "id": str(uuid.uuid4())}
        collision = push_fact("public", id=first["id"], entity="user:other")
        ours = push_fact("public", origin_node_id=node_id)
        body = {"facts": [first, same_content, collision, ours]}
        response = await client.post(
            "/v1/federation/facts/push", json=body, headers=bearer(peer_token(fake, node_id))
        )
        assert response.json() == {
            "accepted": 2,
            "rejected": 2,
            "errors": [
                {"fact_id": first["id"], "error": "id_collision"},
                {"fact_id": ours["id"], "error": "forged_origin"},
            ],
        }
        assert (await client.get(f"/v1/facts/{same_content['id']}")).status_code == 404
        stored = (await client.get(f"/v1/facts/{first['id']}")).json()
        assert stored["entity"] == first["entity"]
        [batch] = await audit(client, "batch_accepted")
        assert (batch["detail"]["accepted"], batch["detail"]["duplicates"]) == (1, 1)


async def test_team_facts_cross_only_when_allowed_and_are_audited(
    tmp_path: Any, fake: FakePeer
) -> None:
    async for node in start_node(
        tmp_path,
        federation_enabled=True,
        federation_insecure=True,
        federation_allow_team=True,
        federation_pull_interval_s=3600,
    ):
        node_id = node.node.node_id
        async with node.client() as client:
            await register(client, fake, ["team", "company", "public"])
            ids = await seed(client)
            page = (
                await pull(client, peer_token(fake, node_id, ["team", "company", "public"]))
            ).json()
            assert [f["id"] for f in page["facts"]] == [ids["team"], ids["company"], ids["public"]]
            [event] = await audit(client, "team_facts_served")
            assert event["detail"]["team_facts"] == 1
            # The peer's token did not include team: team is not served to it.
            narrow = (await pull(client, peer_token(fake, node_id, ["company", "public"]))).json()
            assert ids["team"] not in [f["id"] for f in narrow["facts"]]
