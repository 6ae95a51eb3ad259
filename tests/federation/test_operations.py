"""Operational behaviour: backpressure, replay memory across restarts, the advertised pull
interval, retractions travelling like facts, and the operator's CLI on the database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from stigmem_node.cli import main as cli
from stigmem_node.errors import NodeError
from stigmem_node.federation.gate import Gate
from tests.conftest import cli_env, start_node
from tests.federation.conftest import peer_token, register
from tests.federation.fakepeer import FakePeer
from tests.federation.test_puller import eventually
from tests.federation.test_serving import bearer, push_fact


def test_gate_allows_one_request_per_peer_and_bounds_the_total() -> None:
    gate = Gate(max_inflight=2)
    with gate.enter("p1", "pull"):
        with pytest.raises(NodeError) as busy, gate.enter("p1", "pull"):
            pass
        assert (busy.value.status, busy.value.headers) == (429, {"Retry-After": "1"})
        with gate.enter("p1", "push"), pytest.raises(NodeError) as full, gate.enter("p2", "pull"):
            pass
        assert (full.value.status, full.value.headers) == (503, {"Retry-After": "1"})
    with gate.enter("p1", "pull"):  # released
        pass


async def test_a_nonce_stays_used_across_a_restart(tmp_path: Path, fake: FakePeer) -> None:
    settings = {
        "federation_enabled": True,
        "federation_insecure": True,
        "federation_pull_interval_s": 3600,
    }
    async for node in start_node(tmp_path, **settings):
        async with node.client() as client:
            await register(client, fake)
            token = peer_token(fake, node.node.node_id)
            assert (
                await client.get("/v1/federation/facts", headers=bearer(token))
            ).status_code == 200
    async for node in start_node(tmp_path, **settings):
        async with node.client() as client:
            replay = await client.get("/v1/federation/facts", headers=bearer(token))
            assert (replay.status_code, replay.json()) == (401, {"detail": "nonce_already_seen"})


async def test_the_peers_advertised_interval_wins(tmp_path: Path, fake: FakePeer) -> None:
    document = fake.document()
    document["pull_interval_s"] = 0.05
    fake.well_known = document
    async for node in start_node(
        tmp_path, federation_enabled=True, federation_insecure=True, federation_pull_interval_s=3600
    ):
        async with node.client() as client:
            await register(client, fake)

            async def pulled_often() -> bool:
                return len(fake.cursors_asked()) >= 3

            await eventually("three pulls at the peer's pace", pulled_often)


async def test_a_retraction_travels_like_a_fact(tmp_path: Path, fake: FakePeer) -> None:
    async for node in start_node(
        tmp_path,
        federation_enabled=True,
        federation_insecure=True,
        federation_push_enabled=True,
        federation_pull_interval_s=3600,
    ):
        async with node.client() as client:
            await register(client, fake, ["public"])
            fact = push_fact("public")
            retraction = push_fact(
                "public", id=str(uuid.uuid4()), entity=fact["entity"], confidence=0.0
            )
            for body in ({"facts": [fact]}, {"facts": [retraction]}):
                response = await client.post(
                    "/v1/federation/facts/push",
                    json=body,
                    headers=bearer(peer_token(fake, node.node.node_id)),
                )
                assert response.json()["accepted"] == 1, response.text
            shown = await client.get("/v1/facts", params={"entity": fact["entity"]})
            # The retraction is listed (confidence 0); the fact it retracts is not.
            assert [f["id"] for f in shown.json()["facts"]] == [retraction["id"]]


async def test_cli_approves_lists_and_removes_peers(tmp_path: Path, fake: FakePeer) -> None:
    async for node in start_node(
        tmp_path, federation_enabled=True, federation_insecure=True, federation_pull_interval_s=3600
    ):
        async with node.client() as client:
            peer_id = await register(client, fake, approve=False)
        db = str(tmp_path / "node.db")
        runner = CliRunner(env=cli_env(tmp_path))
        wrong = runner.invoke(
            cli,
            [
                "federation",
                "approve",
                fake.node_id,
                "--fingerprint",
                "sha256:" + "0" * 64,
                "--db",
                db,
            ],
        )
        assert wrong.exit_code == 1
        assert "fingerprint mismatch" in wrong.output
        unknown = runner.invoke(
            cli, ["federation", "approve", "nobody", "--fingerprint", "x", "--db", db]
        )
        assert unknown.exit_code == 1
        assert "no peer 'nobody'" in unknown.output
        done = runner.invoke(
            cli,
            ["federation", "approve", peer_id, "--fingerprint", fake.keys.fingerprint, "--db", db],
        )
        assert done.exit_code == 0, done.output
        assert '"status":"active"' in done.output
        for command in (
            ["peers", "list", "--db", db],
            ["federation", "peers", "list", "--status", "active", "--db", db],
        ):
            listed = runner.invoke(cli, command)
            assert listed.exit_code == 0
            assert fake.node_id in listed.output
        removed = runner.invoke(cli, ["peers", "remove", fake.node_id, "--db", db])
        assert removed.exit_code == 0
        assert peer_id in removed.output
        async with node.client() as client:
            assert (await client.get("/v1/federation/peers")).json() == {"peers": []}
            events = (await client.get("/v1/federation/audit")).json()["entries"]
            assert events[0]["event_type"] == "peer_removed"
            assert events[0]["detail"]["removed_by"] == "system:cli"
