"""Helpers for multi-node federation tests: federated node processes, handshakes over HTTP
(the way ``infra`` wiring scripts do it: each node's key comes from the environment, so the
test can sign declarations), facts, and bounded polling (no fixed sleeps)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from stigmem_node.federation.declarations import format_signed_at, sign_declaration
from stigmem_node.federation.keys import NodeKeys
from tests.process import NodeFactory, NodeProcess

T = TypeVar("T")
DEADLINE_S = 30.0

# Fast loops for tests: short intervals, short backoff.
FAST = {
    "STIGMEM_FEDERATION_ENABLED": "true",
    "STIGMEM_FEDERATION_INSECURE": "1",  # plain HTTP on loopback (tests/tls covers mTLS)
    "STIGMEM_FEDERATION_PULL_INTERVAL_S": "0.2",
    "STIGMEM_FEDERATION_BACKOFF_BASE_S": "0.1",
    "STIGMEM_FEDERATION_BACKOFF_MAX_S": "0.5",
    "STIGMEM_LOG_LEVEL": "warning",
}


class FedNode:
    """A federated node process and its (test-known) federation key."""

    def __init__(self, proc: NodeProcess, keys: NodeKeys) -> None:
        self.proc = proc
        self.keys = keys
        self.http = proc.client()
        self.node_id: str = self.http.get("/.well-known/stigmem").json()["node_id"]

    @property
    def url(self) -> str:
        return self.proc.base_url

    def reconnect(self) -> None:
        self.http.close()
        self.http = self.proc.client()

    def assert_fact(
        self, entity: str, scope: str, value: Any = "v", **extra: Any
    ) -> dict[str, Any]:
        body = {
            "entity": entity,
            "relation": "test:rel",
            "source": "agent:test",
            "scope": scope,
            "value": {"type": "number" if isinstance(value, int | float) else "string", "v": value},
        }
        body.update(extra)
        response = self.http.post("/v1/facts", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def facts(self, entity: str) -> list[dict[str, Any]]:
        response = self.http.get(
            "/v1/facts", params={"entity": entity, "limit": 500, "include_contradicted": "true"}
        )
        assert response.status_code == 200, response.text
        return list(response.json()["facts"])

    def fact_ids(self, entity: str) -> list[str]:
        return [f["id"] for f in self.facts(entity)]

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        response = self.http.get("/v1/federation/audit", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return list(response.json()["entries"])


def start(factory: NodeFactory, name: str, **env: str) -> FedNode:
    keys = NodeKeys.generate()
    full = {
        **FAST,
        "STIGMEM_FEDERATION_PRIVKEY": keys.seed_text,
        "STIGMEM_FEDERATION_PUBKEY": keys.pubkey,
        **env,
    }
    return FedNode(factory(name, env=full), keys)


def declare(registrar: FedNode, declarer: FedNode, scopes: list[str]) -> dict[str, Any]:
    """POST ``declarer``'s signed declaration to ``registrar``; the 201 body."""
    declaration = sign_declaration(
        declarer.keys,
        node_id=declarer.node_id,
        node_url=declarer.url,
        allowed_scopes=scopes,
        signed_at=format_signed_at(datetime.now(UTC)),
    )
    response = registrar.http.post("/v1/federation/peers", json=declaration.to_body())
    assert response.status_code == 201, response.text
    return dict(response.json())


def approve(registrar: FedNode, declarer: FedNode, peer_id: str) -> None:
    response = registrar.http.post(
        f"/v1/federation/peers/{peer_id}/approve",
        json={"pubkey_fingerprint": declarer.keys.fingerprint},
    )
    assert response.status_code == 200, response.text


def link(a: FedNode, b: FedNode, scopes: list[str] | None = None) -> None:
    """Handshake both ways (each registers with the other; each approves the other)."""
    scopes = scopes or ["company", "public"]
    for registrar, declarer in ((a, b), (b, a)):
        body = declare(registrar, declarer, scopes)
        assert body["status"] == "pending_approval", body
        approve(registrar, declarer, body["peer_id"])


def wait_for(what: str, probe: Callable[[], T | None], deadline_s: float = DEADLINE_S) -> T:
    """Poll ``probe`` (short backoff) until it returns a truthy value; fail after the deadline."""
    end = time.monotonic() + deadline_s
    pause = 0.02
    last: T | None = None
    while time.monotonic() < end:
        last = probe()
        if last:
            return last
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what} (last: {last!r})")


def cli(
    *args: str, db: Path | NodeProcess, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``stigmem ...`` against a node's database (as an operator on that host would);
    ``db``: the SQLite file, or the node process (its database, whichever the engine)."""
    from tests.process import clean_environ

    if isinstance(db, NodeProcess):
        url = db.extra_env.get("STIGMEM_DATABASE_URL")
        env = {**({"STIGMEM_DATABASE_URL": url} if url else {}), **(env or {})}
        db = db.db_path
    full = {**clean_environ(), "STIGMEM_DB_PATH": str(db), **(env or {})}
    command = [sys.executable, "-c", "from stigmem_node.cli import main; main()", *args]
    return subprocess.run(command, env=full, capture_output=True, text=True, timeout=60)
