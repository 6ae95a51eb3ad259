"""Pulled pages committed several to a transaction (``puller.GROUP_PAGES``) keep every
per-page guarantee: each page deduplicated against the ones before it, audited on its own,
and the cursor saved is the last page's."""

from __future__ import annotations

from typing import Any

import httpx

from stigmem_node.federation import puller as puller_module
from tests.conftest import NodeHarness
from tests.federation.conftest import register
from tests.federation.fakepeer import FakePeer
from tests.federation.test_puller import (  # noqa: F401 (the fixture)
    _asked,
    eventually,
    page,
    puller,
    upstream_fact,
)


async def _state(client: httpx.AsyncClient, peer_id: str) -> dict[str, Any]:
    got = await client.get(f"/v1/federation/peers/{peer_id}")
    assert got.status_code == 200, got.text
    return dict(got.json()["replication"]["inbound"])


async def test_pages_of_a_group_are_deduplicated_audited_and_cursored_one_by_one(
    puller: NodeHarness,  # noqa: F811
    fake: FakePeer,
) -> None:
    count = puller_module.GROUP_PAGES + 2  # a full group, then a partial one
    facts = [[upstream_fact(), upstream_fact("company")] for _ in range(count)]
    facts[1].append(facts[0][0])  # repeats a fact of the same group
    facts[-1].append(facts[0][1])  # repeats a fact of an earlier group
    fake.pages = {
        ("" if i == 0 else f"c{i}"): page(facts[i], f"c{i + 1}", i + 1 < count)
        for i in range(count)
    }
    last = f"c{count}"
    async with puller.client() as client:
        peer_id = await register(client, fake)
        await eventually("the last page's cursor", lambda: _asked(fake, last))

        async def saved() -> bool:
            return (await _state(client, peer_id))["cursor"] == last

        await eventually("the last cursor saved", saved)
        for page_facts in facts:
            for fact in page_facts:
                got = await client.get(f"/v1/facts/{fact['id']}")
                assert got.status_code == 200, got.text
                assert got.json()["cid"] == fact["cid"]
        audit = (await client.get("/v1/federation/audit", params={"limit": 100})).json()
        batches = sorted(
            (e["detail"]["cursor"], e["detail"]["accepted"], e["detail"]["duplicates"])
            for e in audit["entries"]
            if e["event_type"] == "batch_accepted"
        )
        expected = [(f"c{i + 1}", 2, int(i in (1, count - 1))) for i in range(count)]
        assert batches == sorted(expected)
