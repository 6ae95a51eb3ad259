"""The transport rules of a mutual-TLS node, in process: 421 for plain HTTP (upstream's body
on federation routes), 421 for peer routes without a client certificate, the URI SAN bound
to the peer's node id inbound (401 + ``san_mismatch``) and outbound (the federation client,
against a real HTTPS peer on 127.0.0.1). Every refusal is audited and writes nothing else."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.clock import FakeClock
from stigmem_node.tls.guard import MTLS_REQUIRED, TLS_REQUIRED
from stigmem_node.tls.peer import SAN_MISMATCH
from tests.conftest import ADMIN_KEY, NodeHarness, fact_body, start_node
from tests.federation.conftest import declaration_body, peer_token
from tests.federation.fakepeer import FakePeer
from tests.tls.support import NodeFiles, Pki, tls_scope

NODE = "stigmem:node:guard-node"
PEER = "stigmem:node:guard-peer"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
async def node(tmp_path: Path, pki: Pki) -> AsyncIterator[NodeHarness]:
    files = pki.issue("node", NODE)
    clock = FakeClock(datetime.now(UTC))
    async for h in start_node(tmp_path, clock=clock, node_id=NODE, node_url="https://127.0.0.1:9",
                              federation_enabled=True, federation_pull_interval_s=3600,
                              **files.settings()):  # fmt: skip
        yield h


def client(node: NodeHarness, uris: tuple[str, ...] | None = (), *, tls: bool = True,
           headers: dict[str, str] | None = None) -> httpx.AsyncClient:  # fmt: skip
    """A client over TLS presenting a certificate for ``uris`` (None: no certificate), or
    over plain HTTP."""
    app = tls_scope(node.app, uris) if tls else node.app
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="https://node" if tls else "http://node",
                             headers=ADMIN if headers is None else headers)  # fmt: skip


async def refusals(node: NodeHarness) -> list[dict[str, Any]]:
    async with client(node) as http:
        response = await http.get("/v1/admin/audit", params={"event_type": "tls_refused"})
    assert response.status_code == 200, response.text
    return [json.loads(e["detail"]) for e in response.json()["entries"]]


async def fact_count(node: NodeHarness) -> int:
    async with client(node) as http:
        return int((await http.get("/v1/facts", params={"limit": 1})).json()["total"])


async def test_plain_http_is_421_and_audited(node: NodeHarness) -> None:
    async with client(node, tls=False) as http:
        federation = await http.get("/v1/federation/facts")
        posted = await http.post("/v1/facts", json=fact_body())
        peers = await http.get("/v1/federation/peers")
        health = await http.get("/healthz")
    assert (federation.status_code, federation.json()) == (421, MTLS_REQUIRED)
    assert (peers.status_code, peers.json()) == (421, MTLS_REQUIRED)  # before authentication
    assert (posted.status_code, posted.json()) == (421, TLS_REQUIRED)
    assert health.status_code == 200
    assert await fact_count(node) == 0
    assert node.clock is not None
    node.clock.advance(61)  # the coalescing window closes: its summary row is written
    events = await refusals(node)
    assert {e["reason"] for e in events} == {"plaintext"}
    assert sum(e["occurrences"] for e in events) == 3  # coalesced per client and reason
    assert events[0]["path"] == "/v1/federation/facts"


async def test_peer_routes_need_a_client_certificate(node: NodeHarness) -> None:
    async with client(node, uris=None) as http:
        pulled = await http.get("/v1/federation/facts", headers={"Authorization": "Bearer x"})
        pushed = await http.post("/v1/federation/facts/push", json={"facts": []})
        me = await http.get("/v1/me")  # ordinary API clients need no certificate
    assert (pulled.status_code, pulled.json()) == (421, MTLS_REQUIRED)
    assert (pushed.status_code, pushed.json()) == (421, MTLS_REQUIRED)
    assert me.status_code == 200
    assert [e["reason"] for e in await refusals(node)] == ["no_client_certificate"]


@contextmanager
def tls_peer(peer: FakePeer, files: NodeFiles) -> Iterator[FakePeer]:
    """``peer`` served over HTTPS with ``files`` (client certificates required)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(files.cert, files.key)
    ctx.load_verify_locations(files.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), peer._handler())
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    peer.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def federation_audit(node: NodeHarness, event: str) -> list[dict[str, Any]]:
    async with client(node) as http:
        response = await http.get("/v1/federation/audit", params={"event_type": event})
    return list(response.json()["entries"])


async def register(node: NodeHarness, peer: FakePeer) -> dict[str, Any]:
    async with client(node) as http:
        response = await http.post("/v1/federation/peers", json=declaration_body(peer))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_outbound_requests_bind_the_peer_certificate(node: NodeHarness, pki: Pki) -> None:
    impostor = FakePeer(node_id=PEER)
    with tls_peer(impostor, pki.issue("impostor", "stigmem:node:someone-else")):
        assert (await register(node, impostor))["status"] == "rejected"
    (entry,) = await federation_audit(node, "san_mismatch")
    assert entry["detail"]["direction"] == "outbound"
    assert entry["detail"]["node_id"] == PEER
    assert entry["detail"]["presented"] == ["stigmem:node:someone-else"]
    assert impostor.requests == []  # refused before the request was written

    genuine = FakePeer(node_id="stigmem:node:genuine")
    with tls_peer(genuine, pki.issue("genuine", genuine.node_id)):
        assert (await register(node, genuine))["status"] == "pending_approval"
    assert [r[1] for r in genuine.requests] == ["/.well-known/stigmem"]  # with our certificate

    plain = FakePeer(node_id="stigmem:node:plain")
    with plain.serving():
        assert (await register(node, plain))["status"] == "rejected"
    assert plain.requests == []
    async with client(node) as http:
        peers = (await http.get("/v1/federation/peers")).json()["peers"]
    reasons = {p["node_id"]: p["status"] for p in peers}
    assert reasons == {PEER: "rejected", genuine.node_id: "pending_approval",
                       plain.node_id: "rejected"}  # fmt: skip


async def test_inbound_peer_tokens_bind_the_client_certificate(node: NodeHarness, pki: Pki) -> None:
    peer = FakePeer(node_id=PEER)
    with tls_peer(peer, pki.issue("peer", PEER)):
        peer_id = (await register(node, peer))["peer_id"]
    async with client(node) as http:
        approved = await http.post(f"/v1/federation/peers/{peer_id}/approve",
                                   json={"pubkey_fingerprint": peer.keys.fingerprint})  # fmt: skip
        assert approved.status_code == 200, approved.text
        await http.post("/v1/facts", json=fact_body(scope="public"))

    def pull_headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {peer_token(peer, NODE)}"}

    async with client(node, uris=("stigmem:node:someone-else",), headers={}) as http:
        refused = await http.get("/v1/federation/facts", headers=pull_headers())
    assert (refused.status_code, refused.json()) == (401, {"detail": SAN_MISMATCH})
    assert refused.headers["www-authenticate"] == "Bearer"
    (entry,) = await federation_audit(node, "san_mismatch")
    assert entry["peer_id"] == peer_id
    assert "someone-else" in entry["detail"]["reason"]
    assert await federation_audit(node, "batch_served") == []

    async with client(node, uris=("stigmem:node:other", PEER), headers={}) as http:
        served = await http.get("/v1/federation/facts", headers=pull_headers())
    assert served.status_code == 200, served.text
    assert len(served.json()["facts"]) == 1
