"""Real node processes on 127.0.0.1, federating: the protocol's scenarios end to end.

Driven only through HTTP and the ``stigmem`` CLI. Loops run with short intervals; every wait
polls with a bounded deadline (``cluster.wait_for``), never a fixed sleep."""

from __future__ import annotations

from typing import Any

import pytest

from tests.federation.cluster import (
    FedNode,
    approve,
    cli,
    declare,
    link,
    start,
    wait_for,
)
from tests.process import NodeFactory

pytestmark = pytest.mark.process

SCOPES = ("local", "team", "company", "public")


def one(node: FedNode, entity: str) -> dict[str, Any] | None:
    """The single copy of ``entity``'s fact on ``node`` (None before it arrives)."""
    facts = node.facts(entity)
    assert len(facts) <= 1, f"duplicates of {entity}: {facts}"
    return facts[0] if facts else None


def test_two_nodes_replicate_both_ways_and_survive_restarts(node_factory: NodeFactory) -> None:
    a = start(node_factory, "a", STIGMEM_FEDERATION_ALLOW_TEAM="true")
    b = start(node_factory, "b")
    # A registers with B through the CLI, with upstream's flags; B approves over HTTP.
    done = cli(
        "federation",
        "register-peer",
        "--local-url",
        a.url,
        "--remote-url",
        b.url,
        "--scopes",
        "team,company,public",
        "--api-key",
        b.proc.admin_key,
        db=a.proc,
        env={"STIGMEM_FEDERATION_PRIVKEY": a.keys.seed_text},
    )
    assert done.returncode == 0, done.stderr
    assert '"pending_approval"' in done.stdout
    assert a.keys.fingerprint in done.stderr
    # Run without the node's key, the command refuses rather than sign with another one.
    wrong = cli(
        "federation",
        "register-peer",
        "--local-url",
        a.url,
        "--remote-url",
        b.url,
        "--api-key",
        b.proc.admin_key,
        db=a.proc.data_dir / "other.db",
    )
    assert wrong.returncode == 1
    assert "is not the node whose database/keys" in wrong.stderr
    [peer] = b.http.get("/v1/federation/peers").json()["peers"]
    assert peer["pubkey_fingerprint"] == a.keys.fingerprint
    approve(b, a, peer["peer_id"])
    # B registers with A over HTTP; A's operator approves with the CLI.
    assert declare(a, b, ["team", "company", "public"])["status"] == "pending_approval"
    done = cli("federation", "approve", b.node_id, "--fingerprint", b.keys.fingerprint, db=a.proc)
    assert done.returncode == 0, done.stderr
    listed = cli("peers", "list", db=a.proc)
    assert '"status":"active"' in listed.stdout

    on_a = {scope: a.assert_fact(f"user:a-{scope}", scope)["id"] for scope in SCOPES}
    on_b = {scope: b.assert_fact(f"user:b-{scope}", scope)["id"] for scope in SCOPES}
    wait_for(
        "A's company and public facts on B",
        lambda: one(b, "user:a-company") and one(b, "user:a-public"),
    )
    wait_for(
        "B's company and public facts on A",
        lambda: one(a, "user:b-company") and one(a, "user:b-public"),
    )
    # Pages are served in commit order, so what came before the public fact was decided.
    assert one(b, "user:a-local") is None
    assert one(a, "user:b-local") is None
    assert one(b, "user:a-team") is None  # A may serve team, B does not accept it
    assert one(a, "user:b-team") is None  # B does not serve team
    [violation] = b.audit(event_type="scope_violation")
    assert violation["detail"]["fact_id"] == on_a["team"]

    copy = one(b, "user:a-company")
    assert copy is not None
    assert copy["id"] == on_a["company"]
    original = a.http.get(f"/v1/facts/{on_a['company']}").json()
    assert copy["received_from"] == copy["origin_node_id"] == a.node_id
    assert (copy["timestamp"], copy["cid"]) == (original["timestamp"], original["cid"])
    meta = b.http.get(
        "/v1/facts", params={"entity": on_a["company"], "relation": "stigmem:received_from"}
    ).json()["facts"]
    assert [m["value"]["v"] for m in meta] == [a.node_id]
    assert on_b["public"] == one(a, "user:b-public")["id"]  # type: ignore[index]

    # B goes down; A keeps writing; B comes back and catches up, without duplicates.
    b.proc.stop()
    later = [a.assert_fact(f"user:a-later-{i}", "company")["id"] for i in range(3)]
    b.proc.start()
    wait_for(
        "facts written while B was down", lambda: all(one(b, f"user:a-later-{i}") for i in range(3))
    )
    # A goes down; B records the failure and backs off; A comes back and catches up.
    a.proc.stop()
    [peer_a] = [
        p for p in b.http.get("/v1/federation/peers").json()["peers"] if p["node_id"] == a.node_id
    ]
    wait_for(
        "B's backoff on A",
        lambda: b.http.get(f"/v1/federation/peers/{peer_a['peer_id']}").json()["replication"][
            "inbound"
        ]["failures"],
    )
    b.assert_fact("user:b-later", "public")
    a.proc.start()
    wait_for("B's fact written while A was down", lambda: one(a, "user:b-later"))
    for entity in ("user:a-company", "user:a-public", *(f"user:a-later-{i}" for i in range(3))):
        assert one(b, entity) is not None
    assert [one(b, f"user:a-later-{i}")["id"] for i in range(3)] == later  # type: ignore[index]


def test_four_node_mesh_converges_by_push(node_factory: NodeFactory) -> None:
    env = {
        "STIGMEM_FEDERATION_ALLOW_TEAM": "true",
        "STIGMEM_FEDERATION_PUSH_ENABLED": "true",
        "STIGMEM_FEDERATION_PULL_INTERVAL_S": "60",
        "STIGMEM_FEDERATION_PUSH_INTERVAL_S": "0.1",
    }
    nodes = [start(node_factory, name, **env) for name in "abcd"]
    for i, first in enumerate(nodes):
        for second in nodes[i + 1 :]:
            link(first, second, ["team", "company", "public"])
    # Each node's first pull (right after approval) finds nothing: what follows is pushed.
    for node in nodes:
        for scope in SCOPES:
            node.assert_fact(f"user:{node.proc.name}-{scope}", scope)

    def converged() -> bool:
        return all(
            one(node, f"user:{other.proc.name}-{scope}") is not None
            for node in nodes
            for other in nodes
            if other is not node
            for scope in ("team", "company", "public")
        )

    wait_for("the mesh to converge", converged)
    for node in nodes:
        for other in nodes:
            if other is not node:
                assert one(node, f"user:{other.proc.name}-local") is None


def test_chain_relays_public_facts_only(node_factory: NodeFactory) -> None:
    a, b, c = (start(node_factory, name) for name in "abc")
    link(a, b)
    link(b, c)
    public = a.assert_fact("user:chain-public", "public")["id"]
    company = a.assert_fact("user:chain-company", "company")["id"]
    last = a.assert_fact("user:chain-last", "public")["id"]
    relayed = wait_for("A's public fact on C", lambda: one(c, "user:chain-last"))
    assert relayed["id"] == last
    assert relayed["origin_node_id"] == a.node_id
    assert relayed["received_from"] == b.node_id
    assert one(c, "user:chain-public")["id"] == public  # type: ignore[index]
    assert one(b, "user:chain-company")["id"] == company  # type: ignore[index]
    assert one(c, "user:chain-company") is None  # company facts never travel a second hop


def test_split_brain_keeps_both_facts_and_surfaces_the_conflict(
    node_factory: NodeFactory,
) -> None:
    a, b = start(node_factory, "a"), start(node_factory, "b")
    link(a, b)
    b.proc.stop()  # the partition: each side writes alone
    red = a.assert_fact("user:split", "company", "red")["id"]
    a.proc.stop()
    b.proc.start()
    green = b.assert_fact("user:split", "company", "green")["id"]
    a.proc.start()
    for node in (a, b):
        wait_for(
            f"both facts on {node.proc.name}",
            lambda node=node: {f["id"] for f in node.facts("user:split")} == {red, green},
        )
        conflicts = node.http.get("/v1/conflicts").json()
        pairs = [{c["fact_a"]["id"], c["fact_b"]["id"]} for c in conflicts["conflicts"]]
        assert {red, green} in pairs, conflicts
        shown = node.http.get("/v1/facts", params={"entity": "user:split"}).json()["facts"]
        assert len(shown) == 1
        assert shown[0]["contradicted"] is True


def test_malicious_peer_is_rejected_and_audited_without_stalling(
    node_factory: NodeFactory,
) -> None:
    from tests.federation.fakepeer import FakePeer
    from tests.federation.test_puller import page, upstream_fact

    node, good = start(node_factory, "n"), start(node_factory, "g")
    link(node, good)
    with FakePeer().serving() as evil:
        honest = upstream_fact()
        over_scope, forged = upstream_fact("local"), upstream_fact(source=node.node_id)
        evil.pages = {
            "": page([over_scope, forged, {"junk": True}, honest], "e1", True),
            "e1": page([upstream_fact(cid="sha256:" + "2" * 64)], "e2", False),
        }
        body = declare(node, evil, ["company", "public"])  # type: ignore[arg-type]
        approve(node, evil, body["peer_id"])  # type: ignore[arg-type]
        good_fact = good.assert_fact("user:honest-peer", "public")["id"]
        wait_for("the evil peer's pages to be drained", lambda: "e2" in evil.cursors_asked())
        wait_for("the good peer's fact", lambda: one(node, "user:honest-peer"))
        assert one(node, "user:honest-peer")["id"] == good_fact  # type: ignore[index]
        assert node.http.get(f"/v1/facts/{honest['id']}").status_code == 200
        for bad in (over_scope, forged):
            assert node.http.get(f"/v1/facts/{bad['id']}").status_code == 404
        reasons = sorted(
            e["detail"]["reason"]
            for e in node.audit()
            if e["event_type"] in ("rejected_fact", "scope_violation")
        )
        assert reasons == [
            "cid_mismatch",
            "malformed_fact",
            "scope_not_permitted",
            "source_not_owned",
        ]
        # Replayed and expired tokens of a registered peer are refused and audited.
        from stigmem_node.federation.tokens import mint_peer_token

        token = mint_peer_token(
            evil.keys, iss=evil.node_id, sub=node.node_id, scopes=["public"], now_ms=_now_ms()
        )
        auth = {"Authorization": f"Bearer {token}"}
        assert node.http.get("/v1/federation/facts", headers=auth).status_code == 200
        replay = node.http.get("/v1/federation/facts", headers=auth)
        assert (replay.status_code, replay.json()) == (401, {"detail": "nonce_already_seen"})
        expired = mint_peer_token(
            evil.keys,
            iss=evil.node_id,
            sub=node.node_id,
            scopes=["public"],
            now_ms=_now_ms() - 7_300_000,
        )
        response = node.http.get(
            "/v1/federation/facts", headers={"Authorization": f"Bearer {expired}"}
        )
        assert response.json() == {"detail": "token_expired"}
        events = [e["event_type"] for e in node.audit(peer_id=body["peer_id"])]
        assert "replay_attempt" in events
        assert "rejected_token" in events


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def test_peer_killed_mid_pull_resumes_from_the_persisted_cursor(
    node_factory: NodeFactory,
) -> None:
    total = 1500
    a = start(node_factory, "a")
    b = start(
        node_factory,
        "b",
        STIGMEM_FEDERATION_PAGE_SIZE="50",
        STIGMEM_FEDERATION_MAX_PAGES_PER_CYCLE="1",
        STIGMEM_FEDERATION_PULL_INTERVAL_S="0.05",
    )
    for start_at in range(0, total, 500):
        facts = [
            {
                "entity": f"user:bulk-{i}",
                "relation": "test:rel",
                "source": "agent:bulk",
                "scope": "company",
                "value": {"type": "number", "v": i},
            }
            for i in range(start_at, start_at + 500)
        ]
        assert a.http.post("/v1/facts/batch", json={"facts": facts}).status_code == 200
    link(a, b)

    def received() -> int:
        response = b.http.get("/v1/facts", params={"source": "agent:bulk", "limit": 1})
        return int(response.headers["X-Total-Count"])

    wait_for("B to be part-way", lambda: 0 < received() < total, deadline_s=60)
    a.proc.kill()  # the peer dies mid-pull
    at_kill = received()
    assert at_kill < total
    # B keeps serving reads and writes while its peer is down, and backs off.
    b.assert_fact("user:b-alive", "company")
    assert one(b, "user:b-alive") is not None
    peer_a = next(
        p for p in b.http.get("/v1/federation/peers").json()["peers"] if p["node_id"] == a.node_id
    )
    state = wait_for(
        "B's backoff",
        lambda: (lambda s: s if s["failures"] else None)(
            b.http.get(f"/v1/federation/peers/{peer_a['peer_id']}").json()["replication"]["inbound"]
        ),
    )
    assert state["cursor"] is not None  # the last committed page's cursor survived
    a.proc.start()
    wait_for("B part-way again", lambda: received() > at_kill + 50, deadline_s=60)
    b.proc.kill()  # and now the puller itself crashes mid-pull
    b.proc.start()
    wait_for("everything", lambda: received() == total, deadline_s=90)
    duplicates = sum(e["detail"]["duplicates"] for e in b.audit(event_type="batch_accepted"))
    assert duplicates == 0  # resumed from the cursor, never re-pulled a committed page
