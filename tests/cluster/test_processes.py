"""Two real ``stigmem-node`` processes on one PostgreSQL database: one logical node."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stigmem_node.facts.hlc import parse_hlc
from tests import pg
from tests.conftest import fact_body
from tests.process import NodeFactory, NodeProcess, free_port

pytestmark = [pytest.mark.process, pytest.mark.postgres_only]

CLIENTS_PER_NODE = 4
POSTS_PER_CLIENT = 40
BATCH = 25


@pytest.fixture
def pair(node_factory: NodeFactory, storage: pg.Storage) -> list[NodeProcess]:
    url = storage.new_database_url()
    env = {"STIGMEM_DATABASE_URL": url, "STIGMEM_LOG_LEVEL": "warning"}
    return [node_factory(name, env=env) for name in ("a", "b")]


def _client_work(node: NodeProcess, tag: str, out: list[str], errors: list[str]) -> None:
    with node.client() as http:
        for i in range(POSTS_PER_CLIENT):
            if i % 10 == 9:
                facts = [fact_body(entity=f"user:{tag}-{i}-{n}") for n in range(BATCH)]
                got = http.post("/v1/facts/batch", json={"facts": facts})
                if got.status_code != 200 or got.json()["accepted"] != BATCH:
                    errors.append(got.text)
                    continue
                out.extend(r["fact"]["id"] for r in got.json()["results"])
            else:
                got = http.post("/v1/facts", json=fact_body(entity=f"user:{tag}-{i}"))
                if got.status_code != 201:
                    errors.append(got.text)
                    continue
                out.append(got.json()["id"])


def _all_facts(node: NodeProcess) -> list[dict[str, Any]]:
    """Every fact, through the keyset pages (newest first)."""
    found: list[dict[str, Any]] = []
    cursor = None
    with node.client() as http:
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/v1/facts", params=params).json()
            found += page["facts"]
            cursor = page["cursor"]
            if not cursor:
                return found


def test_concurrent_writers_in_two_processes(pair: list[NodeProcess], storage: pg.Storage) -> None:
    written: list[list[str]] = [[] for _ in range(2 * CLIENTS_PER_NODE)]
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_client_work, args=(pair[i % 2], f"c{i}", written[i], errors), daemon=True
        )
        for i in range(2 * CLIENTS_PER_NODE)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    ids = {fact_id for part in written for fact_id in part}
    per_client = POSTS_PER_CLIENT - POSTS_PER_CLIENT // 10 + BATCH * (POSTS_PER_CLIENT // 10)
    assert len(ids) == 2 * CLIENTS_PER_NODE * per_client  # no fact lost or merged
    for node in pair:  # each process serves every fact, whoever wrote it
        assert {f["id"] for f in _all_facts(node)} == ids
    url = pair[0].extra_env["STIGMEM_DATABASE_URL"]
    with pg.RawConnection(_Settings(url)) as conn:
        rows = conn.execute("SELECT seq, hlc FROM facts ORDER BY seq").fetchall()
    seqs = [int(r[0]) for r in rows]
    assert len(set(seqs)) == len(seqs) == len(ids)
    hlcs = [parse_hlc(r[1]) for r in rows]
    assert hlcs == sorted(set(hlcs))  # unique, and in commit order across both processes


def test_a_fact_written_through_one_process_is_read_through_the_other(
    pair: list[NodeProcess],
) -> None:
    a, b = pair
    with a.client() as http_a, b.client() as http_b:
        for i in range(20):
            writer, reader = (http_a, http_b) if i % 2 else (http_b, http_a)
            created = writer.post("/v1/facts", json=fact_body(entity=f"user:x{i}"))
            assert created.status_code == 201
            fact = created.json()
            got = reader.get(f"/v1/facts/{fact['id']}")
            assert got.status_code == 200
            assert got.json() == fact
            query = reader.get("/v1/facts", params={"entity": f"user:x{i}"}).json()
            assert [f["id"] for f in query["facts"]] == [fact["id"]]
        # A contradiction is seen whichever process wrote the rival.
        http_a.post(
            "/v1/facts", json=fact_body(entity="user:c", value={"type": "string", "v": "a"})
        )
        rival = http_b.post(
            "/v1/facts", json=fact_body(entity="user:c", value={"type": "string", "v": "b"})
        )
        assert rival.json()["contradicted"] is True
        assert len(http_a.get("/v1/conflicts").json()["conflicts"]) == 1


def test_one_admin_key_when_processes_start_together(
    node_factory: NodeFactory, storage: pg.Storage
) -> None:
    env = {"STIGMEM_DATABASE_URL": storage.new_database_url()}
    nodes = [node_factory(name, env=env, start=False) for name in ("a", "b", "c")]
    # Spawned together from this thread (a node dies with the thread that started it).
    for node in nodes:
        node.port = free_port()
        node._spawn()
    for node in nodes:
        assert node._wait_healthy(60), node.output_tail()
        node.starts += 1
    for node in nodes:
        assert node.running
        with node.client() as http:
            assert http.get("/v1/me").status_code == 200
    with pg.RawConnection(_Settings(env["STIGMEM_DATABASE_URL"])) as conn:
        assert conn.execute("SELECT entity_uri FROM api_keys").fetchall() == [("agent:admin",)]


class _Settings:
    """Just what ``pg.RawConnection`` reads."""

    def __init__(self, url: str) -> None:
        self.database_url = url
        self.db_path = None
