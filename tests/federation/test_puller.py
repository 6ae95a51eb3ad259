"""The pull loop against fake peers over real HTTP: bad facts skipped and audited, cursors
advanced, pages drained, failures backed off (persisted, honouring Retry-After), one broken
peer never stalling another."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from stigmem_node.clock import parse_ts
from stigmem_node.facts.cid import compute_cid
from tests.conftest import NodeHarness, start_node
from tests.federation.conftest import register
from tests.federation.fakepeer import FakePeer

T = TypeVar("T")


async def eventually(
    what: str, probe: Callable[[], Awaitable[T | None]], deadline: float = 20
) -> T:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def puller(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for h in start_node(
        tmp_path,
        federation_enabled=True,
        federation_insecure=True,
        federation_pull_interval_s=0.05,
        federation_backoff_base_s=0.05,
        federation_backoff_max_s=0.2,
    ):
        yield h


def upstream_fact(scope: str = "public", **overrides: Any) -> dict[str, Any]:
    """A fact as an upstream node serves it: number as a float, CID over the int text."""
    entity = f"user:{uuid.uuid4().hex[:10]}"
    fact: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "entity": entity,
        "relation": "pref:count",
        "value": {"type": "number", "v": 7.0, "interpret_as": "content"},
        "source": "agent:bot",
        "timestamp": datetime.now(UTC).isoformat(),
        "hlc": f"{int(datetime.now(UTC).timestamp() * 1000)}.0",
        "received_from": None,
        "valid_until": None,
        "confidence": 1.0,
        "scope": scope,
        "origin_node_id": None,
        "garden_id": None,
        "cid": compute_cid(
            entity=entity,
            relation="pref:count",
            value_type="number",
            value_v="7",
            source="agent:bot",
            confidence=1.0,
            scope=scope,
        ),
    }
    fact.update(overrides)
    return fact


def page(facts: list[Any], cursor: str, more: bool) -> tuple[int, Any, dict[str, str]]:
    return 200, {"facts": facts, "cursor": cursor, "has_more": more}, {}


async def held(client: httpx.AsyncClient, fact_id: str) -> bool:
    return (await client.get(f"/v1/facts/{fact_id}")).status_code == 200


async def test_bad_facts_are_skipped_audited_and_the_cursor_moves_on(
    puller: NodeHarness, fake: FakePeer
) -> None:
    good, good2 = upstream_fact(), upstream_fact("company")
    bad = [
        upstream_fact("local"),
        upstream_fact(source=puller.node.node_id),
        upstream_fact(cid="sha256:" + "1" * 64),
        upstream_fact(value={"type": "number", "v": "x"}),
        upstream_fact(hlc="99999999999999.0"),
        upstream_fact(garden_id="g"),
        upstream_fact("company", origin_node_id="stigmem:node:elsewhere"),
        {"entity": "no id"},
    ]
    fake.pages = {"": page([*bad, good], "c1", True), "c1": page([good2], "c2", False)}
    async with puller.client() as client:
        await register(client, fake)
        await eventually(
            "both good facts", lambda: _all(held(client, good["id"]), held(client, good2["id"]))
        )
        await eventually("the cursor after the last page", lambda: _asked(fake, "c2"))
        stored = (await client.get(f"/v1/facts/{good['id']}")).json()
        assert stored["value"]["v"] == 7
        assert stored["cid"] == good["cid"]
        for fact in bad[:-1]:
            assert not await held(client, fact["id"])
        audit = (await client.get("/v1/federation/audit", params={"limit": 100})).json()
        reasons = sorted(
            e["detail"]["reason"]
            for e in audit["entries"]
            if e["event_type"] in ("rejected_fact", "scope_violation")
        )
        assert reasons == sorted(
            [
                "scope_not_permitted",
                "source_not_owned",
                "cid_mismatch",
                "invalid_value",
                "hlc_skew",
                "garden_fact",
                "relayed_non_public",
                "malformed_fact",
            ]
        )
        batches = [e["detail"] for e in audit["entries"] if e["event_type"] == "batch_accepted"]
        assert {(b["accepted"], b["rejected"], b["cursor"]) for b in batches} >= {
            (1, 8, "c1"),
            (1, 0, "c2"),
        }


async def _all(*probes: Awaitable[bool]) -> bool:
    return all([await probe for probe in probes])


async def _asked(fake: FakePeer, cursor: str) -> bool:
    return cursor in fake.cursors_asked()


async def test_a_broken_peer_never_stalls_another(puller: NodeHarness, fake: FakePeer) -> None:
    good = upstream_fact()
    fake.pages = {"": (500, {"detail": "boom"}, {})}
    healthy = FakePeer()
    healthy.pages = {"": page([good], "h1", False)}
    with healthy.serving():
        async with puller.client() as client:
            await register(client, fake)
            await register(client, healthy)
            await eventually("the healthy peer's fact", lambda: held(client, good["id"]))
            peer_id = await _peer_id(client, fake.node_id)
            state = await eventually(
                "the broken peer's backoff", lambda: _failures(client, peer_id)
            )
            assert "pull answered 500" in state["last_error"]


async def _peer_id(client: httpx.AsyncClient, node_id: str) -> str:
    peers = (await client.get("/v1/federation/peers")).json()["peers"]
    return str(next(p["peer_id"] for p in peers if p["node_id"] == node_id))


async def _failures(client: httpx.AsyncClient, peer_id: str) -> dict[str, Any] | None:
    inbound = (await client.get(f"/v1/federation/peers/{peer_id}")).json()["replication"]["inbound"]
    return inbound if inbound["failures"] else None


async def test_retry_after_is_honoured_and_persisted(puller: NodeHarness, fake: FakePeer) -> None:
    fake.pages = {"": (503, {"detail": "busy"}, {"Retry-After": "120"})}
    async with puller.client() as client:
        await register(client, fake)
        peer_id = await _peer_id(client, fake.node_id)
        state = await eventually("the backoff", lambda: _failures(client, peer_id))
        wait = (parse_ts(state["retry_at"]) - datetime.now(UTC)).total_seconds()
        assert 100 < wait <= 120
        assert fake.cursors_asked() == [""]  # no retry before Retry-After


async def test_a_cursor_the_peer_forgot_restarts_from_the_beginning(
    puller: NodeHarness, fake: FakePeer
) -> None:
    first, second = upstream_fact(), upstream_fact()
    forgot = (400, {"detail": {"code": "invalid_cursor", "message": "unknown"}}, {})
    fake.pages = {"": page([first], "old", False), "old": forgot}
    async with puller.client() as client:
        await register(client, fake)
        await eventually("the first fact", lambda: held(client, first["id"]))
        await eventually("the forgotten cursor", lambda: _asked(fake, "old"))
        fake.pages[""] = page([first, second], "new", False)
        await eventually("the second fact, from the start", lambda: held(client, second["id"]))
        audit = (
            await client.get("/v1/federation/audit", params={"event_type": "batch_accepted"})
        ).json()["entries"]
        assert any(e["detail"]["duplicates"] == 1 for e in audit)  # the first, not copied


@pytest.fixture
async def pusher(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for h in start_node(
        tmp_path,
        federation_enabled=True,
        federation_insecure=True,
        federation_push_enabled=True,
        federation_pull_interval_s=0.05,
        federation_push_interval_s=0.02,
    ):
        yield h


def _advertise(fake: FakePeer, *, interval: bool) -> None:
    document = fake.document()
    document["federation_endpoints"]["push"] = "/v1/federation/facts/push"
    if interval:
        document["pull_interval_s"] = 0.05
    fake.well_known = document


async def test_new_facts_are_pushed_to_peers_that_accept_them(
    pusher: NodeHarness, fake: FakePeer
) -> None:
    _advertise(fake, interval=True)
    async with pusher.client() as client:
        await register(client, fake)
        peer_id = await _peer_id(client, fake.node_id)
        await eventually("the push cursor", lambda: _outbound(client, peer_id))
        created = (
            await client.post(
                "/v1/facts",
                json={
                    "entity": "user:pushed",
                    "relation": "pref:x",
                    "source": "agent:a",
                    "scope": "company",
                    "value": {"type": "string", "v": "y"},
                },
            )
        ).json()
        await eventually("the push", lambda: _pushed(fake, created["id"]))
        _method, path, headers = next(r for r in fake.requests if r[0] == "POST")
        assert path == "/v1/federation/facts/push"
        assert headers["Authorization"].startswith("Bearer ey")


async def test_upstream_style_push_endpoints_are_not_pushed_to(
    pusher: NodeHarness, fake: FakePeer
) -> None:
    """Upstream's push route only takes facts sourced by the sender node: we rely on pull."""
    _advertise(fake, interval=False)
    async with pusher.client() as client:
        await register(client, fake)
        await client.post(
            "/v1/facts",
            json={
                "entity": "user:not-pushed",
                "relation": "pref:x",
                "source": "agent:a",
                "scope": "company",
                "value": {"type": "string", "v": "y"},
            },
        )
        await eventually("a few pull cycles", lambda: _pulls(fake, 5))
        assert fake.pushes == []


async def _outbound(client: httpx.AsyncClient, peer_id: str) -> bool:
    body = (await client.get(f"/v1/federation/peers/{peer_id}")).json()
    return body["replication"]["outbound"]["cursor"] is not None


async def _pushed(fake: FakePeer, fact_id: str) -> bool:
    return any(f.get("id") == fact_id for body in fake.pushes for f in body.get("facts", []))


async def _pulls(fake: FakePeer, count: int) -> bool:
    return len(fake.cursors_asked()) >= count


async def test_more_without_a_new_cursor_does_not_loop(puller: NodeHarness, fake: FakePeer) -> None:
    """A peer that says has_more but never moves its cursor is asked once per interval."""
    fake.pages = {"": page([], "stuck", True), "stuck": page([], "stuck", True)}
    async with puller.client() as client:
        await register(client, fake)
        await eventually("a few cycles", lambda: _pulls(fake, 6))
        asked = fake.cursors_asked()
        # Each cycle asks at most twice (the start, then the stuck cursor), never a burst.
        assert asked[:3] == ["", "stuck", "stuck"]
        assert len(asked) < 40


async def test_a_retraction_that_arrives_before_its_fact_still_retracts_it(
    puller: NodeHarness, fake: FakePeer
) -> None:
    """Soak finding: node C's retraction of A's fact reached B before A's fact did."""
    written = datetime(2026, 1, 1, tzinfo=UTC)
    original = upstream_fact(timestamp=written.isoformat())
    retraction = upstream_fact(
        entity=original["entity"],
        timestamp=datetime(2026, 1, 2, tzinfo=UTC).isoformat(),
        confidence=0.0,
        cid=compute_cid(
            entity=original["entity"], relation="pref:count", value_type="number",
            value_v="7", source="agent:bot", confidence=0.0, scope="public",
        ),
    )  # fmt: skip
    fake.pages = {"": page([retraction], "c1", True), "c1": page([original], "c2", False)}
    async with puller.client() as client:
        await register(client, fake)
        await eventually("the original fact", lambda: held(client, original["id"]))
        shown = (await client.get("/v1/facts", params={"entity": original["entity"]})).json()
        assert [f["id"] for f in shown["facts"]] == [retraction["id"]]  # the fact is retracted
        assert shown["facts"][0]["contradicted"] is False
