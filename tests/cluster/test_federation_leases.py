"""Two processes on one database pull a peer one at a time; the survivor takes over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import NodeHarness, start_node
from tests.federation.conftest import peer_token, register
from tests.federation.fakepeer import FakePeer

EMPTY = {"facts": [], "cursor": "c1", "has_more": False}


@pytest.fixture
def fake() -> Iterator[FakePeer]:
    peer = FakePeer()
    peer.pages[""] = (200, EMPTY, {})
    peer.pages["c1"] = (200, EMPTY, {})
    with peer.serving():
        yield peer


def federated(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    return start_node(
        tmp_path,
        federation_enabled=True,
        federation_insecure=True,
        federation_pull_interval_s=3600,
        lease_ttl_s=0.6,
    )


async def stop(node: AsyncIterator[NodeHarness]) -> None:
    with contextlib.suppress(StopAsyncIteration):
        await anext(node)


async def _until(what: str, probe: object) -> None:
    for _ in range(300):  # bounded: 15 s
        if probe():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_one_process_pulls_a_peer_and_another_takes_over(
    tmp_path: Path, fake: FakePeer
) -> None:
    runs = {name: federated(tmp_path) for name in ("a", "b")}
    nodes = {name: await anext(run) for name, run in runs.items()}
    try:
        async with nodes["a"].client() as client:
            peer_id = await register(client, fake)
        lease = f"federation-pull:{peer_id}"
        for node in nodes.values():
            node.node.federation.peers_changed()
        await _until("a first pull", lambda: fake.cursors_asked())
        await _until(
            "both processes to run the peer's loop",
            lambda: all((peer_id, "pull") in n.node.federation._tasks for n in nodes.values()),
        )
        holder = await nodes["a"].node.leases.holder(lease)
        [pulling] = [name for name, n in nodes.items() if n.node.leases.instance == holder]
        [waiting] = [name for name in nodes if name != pulling]
        assert not await nodes[waiting].node.leases.hold(lease)
        assert fake.cursors_asked() == [""]  # one pull, not one per process
        await stop(runs.pop(pulling))  # the puller stops: the other takes the peer over
        await _until("the take-over pull", lambda: fake.cursors_asked() == ["", "c1"])
        survivor = nodes[waiting].node.leases
        assert await survivor.holder(lease) == survivor.instance
    finally:
        for run in runs.values():
            await stop(run)


async def test_a_nonce_used_at_one_process_is_a_replay_at_the_other(
    tmp_path: Path, fake: FakePeer
) -> None:
    runs = [federated(tmp_path) for _ in range(2)]
    a, b = [await anext(run) for run in runs]
    try:
        async with a.client() as first, b.client() as second:
            await register(first, fake)
            token = peer_token(fake, a.node.node_id)
            headers = {"Authorization": f"Bearer {token}"}
            assert (await first.get("/v1/federation/facts", headers=headers)).status_code == 200
            replay = await second.get("/v1/federation/facts", headers=headers)
            assert (replay.status_code, replay.json()) == (401, {"detail": "nonce_already_seen"})
    finally:
        for run in runs:
            await stop(run)
