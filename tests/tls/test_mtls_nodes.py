"""Two real ``stigmem-node`` processes federating over mutual TLS on 127.0.0.1, with
certificates made by the test: replication works; a certificate for another node id, an
expired one, one from an unknown CA and a plaintext client are refused and audited; replaced
certificate files (and CA bundle) are picked up without a restart."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.federation.keys import NodeKeys
from stigmem_node.federation.tokens import mint_peer_token
from stigmem_node.tls.guard import MTLS_REQUIRED
from stigmem_node.tls.peer import SAN_MISMATCH
from tests.federation.cluster import FAST, FedNode, link, wait_for
from tests.process import NodeFactory
from tests.tls.support import NodeFiles, Pki, served_serial

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("tls-nodes")]

A_ID, B_ID = "stigmem:node:mtls-a", "stigmem:node:mtls-b"


class Cluster:
    def __init__(self, pki: Pki, a: FedNode, b: FedNode, b_files: NodeFiles) -> None:
        self.pki, self.a, self.b, self.b_files = pki, a, b, b_files

    def token_from_a(self) -> str:
        """A fresh peer token A would send B (the test holds A's federation key)."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return mint_peer_token(self.a.keys, iss=A_ID, sub=B_ID, scopes=["company", "public"],
                               now_ms=now_ms)  # fmt: skip

    def pull_from_b(self, context: ssl.SSLContext) -> httpx.Response:
        """GET B's fact page as a peer with A's token over a connection using ``context``
        (again while A's own pull loop holds B's one-request-per-peer slot: 429)."""

        def attempt() -> httpx.Response | None:
            with httpx.Client(base_url=self.b.url, verify=context, timeout=10) as http:
                headers = {"Authorization": f"Bearer {self.token_from_a()}"}
                response = http.get("/v1/federation/facts", headers=headers)
            return None if response.status_code == 429 else response

        return wait_for("B's answer to a pull", attempt)

    def refusal_reasons(self) -> set[str]:
        response = self.b.http.get("/v1/admin/audit", params={"event_type": "tls_refused"})
        assert response.status_code == 200, response.text
        return {json.loads(e["detail"])["reason"] for e in response.json()["entries"]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("mtls")
    pki = Pki(root / "pki")
    factory = NodeFactory(root / "nodes")
    env = {k: v for k, v in FAST.items() if k != "STIGMEM_FEDERATION_INSECURE"}
    nodes: list[FedNode] = []
    issued: dict[str, NodeFiles] = {}
    try:
        for name, node_id in (("a", A_ID), ("b", B_ID)):
            keys = NodeKeys.generate()
            files = pki.issue(name, node_id)
            issued[name] = files
            proc = factory(name, https=pki.verify_context(), env={
                **env, **files.env(), "STIGMEM_NODE_ID": node_id,
                "STIGMEM_FEDERATION_PRIVKEY": keys.seed_text,
                "STIGMEM_FEDERATION_PUBKEY": keys.pubkey,
            })  # fmt: skip
            nodes.append(FedNode(proc, keys))
        a, b = nodes
        link(a, b)
        yield Cluster(pki, a, b, issued["b"])
    finally:
        for node in nodes:
            node.http.close()
        factory.close()


def fact_on(node: FedNode, entity: str) -> dict[str, Any] | None:
    facts = node.facts(entity)
    return facts[0] if facts else None


def test_two_nodes_federate_over_mutual_tls(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    assert {a.url[:8], b.url[:8]} == {"https://"}
    sent = a.assert_fact("user:mtls-a", "public")
    got = wait_for("A's fact on B", lambda: fact_on(b, "user:mtls-a"))
    assert (got["id"], got["received_from"]) == (sent["id"], A_ID)
    b.assert_fact("user:mtls-b", "company")
    assert wait_for("B's fact on A", lambda: fact_on(a, "user:mtls-b"))["received_from"] == B_ID
    assert b.audit(event_type="san_mismatch") == []


def test_a_certificate_for_another_node_id_is_refused(cluster: Cluster) -> None:
    before = len(cluster.b.audit(event_type="san_mismatch"))
    other = cluster.pki.issue("other", "stigmem:node:someone-else")
    response = cluster.pull_from_b(other.client_context())
    assert (response.status_code, response.json()) == (401, {"detail": SAN_MISMATCH})
    entries = cluster.b.audit(event_type="san_mismatch")
    assert len(entries) == before + 1
    assert "stigmem:node:someone-else" in entries[0]["detail"]["reason"]
    # A's own certificate passes the same check.
    own = cluster.pki.issue("a-client", A_ID)
    assert cluster.pull_from_b(own.client_context()).status_code == 200


@pytest.mark.parametrize("kind", ["expired", "unknown_ca"])
def test_bad_client_certificates_fail_the_handshake(cluster: Cluster, kind: str) -> None:
    if kind == "expired":
        files = cluster.pki.expired("expired", A_ID)
        reason = "certificate_expired"
    else:
        files = Pki(cluster.pki.root / "rogue", "Rogue CA").issue("rogue", A_ID)
        files = NodeFiles(files.directory, A_ID)
        reason = "unknown_ca"
    context = files.client_context()
    context.load_verify_locations(cluster.pki.ca_file)  # it trusts B; B does not trust it
    with pytest.raises(httpx.TransportError):
        cluster.pull_from_b(context)
    wait_for(f"a {reason} refusal in B's audit", lambda: reason in cluster.refusal_reasons())


def test_plaintext_clients_get_421(cluster: Cluster) -> None:
    plain = cluster.b.url.replace("https://", "http://")
    response = httpx.get(f"{plain}/v1/federation/facts",
                         headers={"Authorization": f"Bearer {cluster.token_from_a()}"})  # fmt: skip
    assert (response.status_code, response.json()) == (421, MTLS_REQUIRED)
    assert httpx.get(f"{plain}/healthz").status_code == 200  # container health checks
    assert "plaintext" in cluster.refusal_reasons()
    without_certificate = cluster.pull_from_b(cluster.pki.verify_context())
    assert (without_certificate.status_code, without_certificate.json()) == (421, MTLS_REQUIRED)
    assert "no_client_certificate" in cluster.refusal_reasons()


def test_replaced_certificates_are_used_without_a_restart(cluster: Cluster) -> None:
    b, files = cluster.b, cluster.b_files
    port = int(b.url.rsplit(":", 1)[1])
    verify = cluster.pki.verify_context()
    first = served_serial(port, verify)
    renewed = cluster.pki.issue("b", B_ID)  # written beside and renamed into place
    assert renewed.cert == files.cert
    assert served_serial(port, verify) != first

    # A new CA joins B's bundle: its certificates are accepted from the next connection.
    second = Pki(cluster.pki.root / "second", "Second CA")
    newcomer = second.issue("a-second", A_ID).client_context()
    newcomer.load_verify_locations(cluster.pki.ca_file)
    with pytest.raises(httpx.TransportError):
        cluster.pull_from_b(newcomer)
    bundle = cluster.pki.ca_file.read_bytes() + second.ca_file.read_bytes()
    cluster.pki.issue("b", B_ID, bundle=_write(cluster.pki.root / "bundle.pem", bundle))
    assert cluster.pull_from_b(newcomer).status_code == 200

    # Both nodes keep federating with their renewed certificates (A renews its own too).
    cluster.pki.issue("a", A_ID)
    cluster.a.assert_fact("user:after-rotation", "public")
    wait_for("a fact after the rotation", lambda: fact_on(b, "user:after-rotation"))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
