"""Attestation: the signed bytes (known answer), single and batch asserts, every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stigmem_node.auth.attestation import signed_message
from stigmem_node.auth.caller import Caller
from stigmem_node.facts.models import AssertRequest
from tests.conftest import NodeHarness, start_node
from tests.identity.support import b64url, count, events, mint_key, public_b64, sign_fact

# Known answer: Ed25519 with the seed 00 01 02 .. 1f over upstream's observed message.
SEED = bytes(range(32))
KAT_PUBLIC = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
KAT_MESSAGE = b"User:Att\nns:rel\nnumber\n2.5\nagent:admin"
KAT_SIGNATURE = (
    "G4Km7dOj9UNHJTSGjDWJuO4XUjHugRxyY5Ov7xMqv8AdALMmxszOk5XQEkiF2weudd-o8kyekRq474X1EcPzAA"
)
KAT_BODY: dict[str, Any] = {
    "entity": "User:Att",
    "relation": "ns:rel",
    "value": {"type": "number", "v": 2.5},
    "source": "agent:admin",
    "scope": "company",
}


def test_signed_bytes_known_answer() -> None:
    assert signed_message("User:Att", "ns:rel", "number", "2.5", "agent:admin") == KAT_MESSAGE
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    assert public_b64(key) == KAT_PUBLIC
    assert b64url(key.sign(KAT_MESSAGE)) == KAT_SIGNATURE  # Ed25519 is deterministic


@pytest.fixture
async def kat_key_id(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/auth/agent-keys", json={"public_key": KAT_PUBLIC})
    return str(response.json()["id"])


def attested(key_id: str, signature: str = KAT_SIGNATURE, **overrides: Any) -> dict[str, Any]:
    return {**KAT_BODY, **overrides, "attestation": {"key_id": key_id, "signature": signature}}


async def test_known_answer_accepted_over_http(
    harness: NodeHarness, client: httpx.AsyncClient, kat_key_id: str
) -> None:
    response = await client.post("/v1/facts", json=attested(kat_key_id))
    assert response.status_code == 201, response.text
    fact = response.json()
    # Signed over the raw strings; stored normalised.
    assert (fact["entity"], fact["attested_key_id"], fact["attested"]) == (
        "user:att",
        kat_key_id,
        None,
    )
    [event] = await events(harness, "fact_write")
    assert (event["fact_id"], event["attested_key_id"]) == (fact["id"], kat_key_id)


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"value": {"type": "number", "v": 2.6}}, "another value"),
        ({"entity": "user:att"}, "the normalised entity, not the signed raw one"),
        ({"source": "Agent:Admin"}, "another raw source"),
        ({"relation": "ns:other"}, "another relation"),
    ],
)
async def test_signature_binds_the_content(
    harness: NodeHarness,
    client: httpx.AsyncClient,
    kat_key_id: str,
    overrides: dict[str, Any],
    why: str,
) -> None:
    response = await client.post("/v1/facts", json=attested(kat_key_id, **overrides))
    assert response.status_code == 400, why
    assert response.json() == {"detail": "attestation signature verification failed"}
    assert count(harness, "facts") == 0


@pytest.mark.parametrize(
    "signature",
    [
        "not base64 at all!",
        b64url(b"\x00" * 63),  # too short for Ed25519
        b64url(b"\x00" * 64),  # well-formed, wrong
        # a foreign key's signature (fixed seed: the same ids on every xdist worker)
        b64url(Ed25519PrivateKey.from_private_bytes(b"\x7f" * 32).sign(KAT_MESSAGE)),
    ],
)
async def test_malformed_and_foreign_signatures(
    harness: NodeHarness, client: httpx.AsyncClient, kat_key_id: str, signature: str
) -> None:
    response = await client.post("/v1/facts", json=attested(kat_key_id, signature))
    assert response.status_code == 400
    assert response.json() == {"detail": "attestation signature verification failed"}
    assert count(harness, "facts") == 0
    [event] = await events(harness, "attestation_failed")
    assert event["entity_uri"] == "agent:admin"
    assert event["detail"]["reason"] == "attestation signature verification failed"
    assert event["detail"]["key_id"] == kat_key_id


async def test_unknown_key(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/facts", json=attested("no-such-key"))
    assert response.status_code == 400
    assert response.json() == {"detail": "attestation.key_id 'no-such-key' not found"}
    assert count(harness, "facts") == 0
    [event] = await events(harness, "attestation_failed")
    assert event["detail"]["key_id"] == "no-such-key"


async def test_revoked_key(
    harness: NodeHarness, client: httpx.AsyncClient, kat_key_id: str
) -> None:
    assert (await client.post("/v1/facts", json=attested(kat_key_id))).status_code == 201
    await client.delete(f"/v1/auth/agent-keys/{kat_key_id}")
    response = await client.post(
        "/v1/facts",
        json=attested(kat_key_id, scope="public"),  # new content, same signature
    )
    assert response.status_code == 400
    assert response.json() == {"detail": f"attestation.key_id '{kat_key_id}' has been revoked"}
    assert count(harness, "facts") == 1
    [event] = await events(harness, "attestation_failed")
    assert event["detail"]["reason"] == f"attestation.key_id '{kat_key_id}' has been revoked"


async def test_key_of_another_entity(
    harness: NodeHarness, client: httpx.AsyncClient, kat_key_id: str
) -> None:
    other = await mint_key(client, "agent:mallory")
    async with harness.client(other) as mallory:
        response = await mallory.post("/v1/facts", json=attested(kat_key_id))
    assert response.status_code == 403
    assert response.json() == {"detail": "attestation key belongs to a different entity"}
    assert count(harness, "facts") == 0
    [event] = await events(harness, "attestation_failed")
    assert event["entity_uri"] == "agent:mallory"


async def test_write_permission_comes_first(
    harness: NodeHarness, client: httpx.AsyncClient, kat_key_id: str
) -> None:
    reader = await mint_key(client, "agent:admin", ["read"])
    async with harness.client(reader) as reader_client:
        response = await reader_client.post("/v1/facts", json=attested("no-such-key"))
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "write permission required"},
    )
    assert await events(harness, "attestation_failed") == []


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for h in start_node(tmp_path, attestation_required=True):
        yield h


async def test_required_refuses_unattested(strict: NodeHarness) -> None:
    async with strict.client() as client:
        response = await client.post("/v1/facts", json=KAT_BODY)
        assert response.status_code == 400
        assert response.json() == {
            "detail": "attestation required; register an agent key at POST /v1/auth/agent-keys"
        }
        assert count(strict, "facts") == 0
        key_id = (await client.post("/v1/auth/agent-keys", json={"public_key": KAT_PUBLIC})).json()[
            "id"
        ]
        assert (await client.post("/v1/facts", json=attested(key_id))).status_code == 201


async def test_required_applies_to_every_batch_item(strict: NodeHarness) -> None:
    key = Ed25519PrivateKey.generate()
    async with strict.client() as client:
        key_id = (
            await client.post("/v1/auth/agent-keys", json={"public_key": public_b64(key)})
        ).json()["id"]
        good = {**KAT_BODY, "entity": "User:B", "value": {"type": "string", "v": "x"}}
        good["attestation"] = {"key_id": key_id, "signature": sign_fact(key, good, "x")}
        forged = {**good, "value": {"type": "string", "v": "y"}}
        response = await client.post(
            "/v1/facts/batch", json={"facts": [good, KAT_BODY, forged, attested("nope")]}
        )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 400, 400, 400]
    assert results[0]["fact"]["attested_key_id"] == key_id
    assert results[1]["detail"].startswith("attestation required")
    assert results[2]["detail"] == "attestation signature verification failed"
    assert results[3]["detail"] == "attestation.key_id 'nope' not found"
    assert count(strict, "facts") == 1
    assert count(strict, "facts", "attested_key_id = ?", (key_id,)) == 1
    [batch] = await events(strict, "fact_batch")
    assert (batch["detail"]["accepted"], batch["detail"]["rejected"]) == (1, 3)
    failures = await events(strict, "attestation_failed", close_windows=True)
    assert sum(e["detail"]["occurrences"] for e in failures) == 3  # coalesced, none lost


async def test_atomic_batch_with_a_bad_attestation_writes_nothing(
    harness: NodeHarness, client: httpx.AsyncClient, kat_key_id: str
) -> None:
    ok = attested(kat_key_id)
    bad = attested(kat_key_id, b64url(b"\x00" * 64), entity="User:Other")
    response = await client.post("/v1/facts/batch", json={"facts": [ok, bad], "atomic": True})
    assert response.status_code == 422
    assert [r["status"] for r in response.json()["results"]] == [424, 400]
    assert count(harness, "facts") == 0


async def test_fact_service_without_attestor_refuses_attestations() -> None:
    from stigmem_node.facts.service import _no_attestation

    req = AssertRequest.model_validate(attested("k"))
    with pytest.raises(Exception, match="not supported"):
        await _no_attestation(Caller("agent:x", frozenset({"write"})), req)
