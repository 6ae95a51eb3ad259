"""A page is written with exactly the effects of writing its facts one by one.

``ingest`` inserts the rows of facts whose (entity, relation, scope) holds no other fact in
bulk, and takes the one-by-one path (store lookups, retraction and contradiction effects) for
the others. These tests push one page holding every kind of interaction (contradictions
within the page and with stored facts, a retraction before and after its fact, duplicates
by content within the page and with the store) to one node, the same facts one per request
to another, and compare what the two nodes hold, row by row.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from stigmem_node.facts.hlc import parse_hlc
from tests import pg
from tests.conftest import NodeHarness, fact_body, start_node
from tests.federation.conftest import peer_token, register
from tests.federation.fakepeer import FakePeer
from tests.federation.test_serving import bearer, push_fact

LOCAL = [  # asserted on each node before the pushes: (label, entity, value, source)
    ("stored", "user:stored", "red", "agent:local"),
    ("same", "user:same", "blue", "agent:remote"),
]


def _fact(label: str, entity: str, value: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    return label, push_fact("public", entity=entity, value={"type": "string", "v": value},
                            **overrides)  # fmt: skip


def _page() -> list[tuple[str, dict[str, Any]]]:
    day = "2026-01-0{}T00:00:00+00:00".format
    page = [
        _fact("a", "user:pair", "dark", timestamp=day(1)),
        _fact("b", "user:pair", "light", timestamp=day(1)),  # contradicts a (same page)
        _fact("c", "user:stored", "green"),  # contradicts a stored fact
        _fact("late_retraction", "user:late", "v", confidence=0.0, timestamp=day(3)),
        _fact("late", "user:late", "v", timestamp=day(2)),  # arrives retracted
        _fact("new", "user:new", "x"),  # touches nothing
        ("dup_page", {}),  # same content as "new", another id
        _fact("a_retraction", "user:pair", "dark", confidence=0.0, timestamp=day(4)),
        _fact("dup_stored", "user:same", "blue"),  # same content as a stored fact
        _fact("new2", "user:new2", "y"),
    ]
    new = dict(page)["new"]
    return [(label, fact or {**new, "id": str(uuid.uuid4())}) for label, fact in page]


async def _push(client: httpx.AsyncClient, node_id: str, fake: FakePeer, facts: list[Any]) -> Any:
    response = await client.post(
        "/v1/federation/facts/push",
        json={"facts": facts},
        headers=bearer(peer_token(fake, node_id)),
    )
    assert response.status_code == 202, response.text
    return response.json()


async def _state(
    node: NodeHarness, fake: FakePeer, page: list[tuple[str, dict[str, Any]]], together: bool
) -> dict[str, Any]:
    """Push ``page`` (in one request, or one fact per request); what the node then holds,
    with ids replaced by labels."""
    node_id = node.node.node_id
    labels = {fact["id"]: label for label, fact in page}
    async with node.client() as client:
        await register(client, fake, ["public"])
        for label, entity, value, source in LOCAL:
            body = fact_body(entity=entity, value={"type": "string", "v": value}, source=source,
                             relation="pref:color", scope="public")  # fmt: skip
            created = await client.post("/v1/facts", json=body)
            assert created.status_code == 201, created.text
            labels[created.json()["id"]] = label
        facts = [fact for _, fact in page]
        if together:
            answers = [await _push(client, node_id, fake, facts)]
        else:
            answers = [await _push(client, node_id, fake, [fact]) for fact in facts]
        accepted = sum(answer["accepted"] for answer in answers)
        shown = {}
        for entity in sorted({fact["entity"] for fact in facts}):
            got = (await client.get("/v1/facts", params={"entity": entity})).json()["facts"]
            shown[entity] = [(labels[f["id"]], f["contradicted"]) for f in got]
        flags = {}
        for label, fact in page:
            got = await client.get(f"/v1/facts/{fact['id']}")
            flags[label] = got.json()["contradicted"] if got.status_code == 200 else None
    name = {**labels, fake.node_id: "peer"}
    rows = pg.rows(node.node.db, "SELECT entity, relation, value_v, confidence, hlc, writer"
                   " FROM facts ORDER BY seq")  # fmt: skip
    ingested = [row for row in rows if row[5] in (fake.node_id, "system:stigmem")]
    hlcs = [parse_hlc(row[4]) for row in ingested]
    assert hlcs == sorted(hlcs), "HLC order differs from commit order"
    written = [
        (
            "conflict" if row[0].startswith("stigmem:conflict:") else name.get(row[0], row[0]),
            row[1],
            " ".join(name.get(part, "?") for part in row[2].split())
            if row[1] == "stigmem:conflict:between"
            else name.get(row[2], row[2]),
            row[3],
        )
        for row in ingested
    ]
    conflicts = pg.rows(node.node.db, "SELECT fact_a_id, fact_b_id FROM conflicts ORDER BY seq")
    retracted = pg.rows(node.node.db, "SELECT fact_id FROM fact_retractions")
    return {
        "accepted": accepted,
        "shown": shown,
        "contradicted": flags,
        "rows": written,
        "conflicts": [(labels[a], labels[b]) for a, b in conflicts],
        "retracted": sorted(labels[fact_id] for (fact_id,) in retracted),
    }


async def test_a_page_has_the_effects_of_its_facts_written_one_by_one(
    tmp_path: Path, fake: FakePeer
) -> None:
    page = _page()
    settings: dict[str, Any] = {
        "federation_enabled": True,
        "federation_insecure": True,
        "federation_push_enabled": True,
        "federation_pull_interval_s": 3600,
    }
    async for one in start_node(tmp_path / "together", **settings):
        together = await _state(one, fake, page, together=True)
    async for each in start_node(tmp_path / "one-by-one", **settings):
        one_by_one = await _state(each, fake, page, together=False)
    assert together == one_by_one
    # And those effects are the right ones.
    assert together["accepted"] == len(page)  # duplicates count as accepted (upstream)
    assert together["conflicts"] == [("b", "a"), ("c", "stored")]
    assert together["retracted"] == ["a", "late"]
    assert together["contradicted"]["c"] is True
    assert together["contradicted"]["b"] is False  # its rival "a" was retracted
    assert together["contradicted"]["dup_stored"] is None  # never stored
    assert together["contradicted"]["dup_page"] is None
    assert together["shown"]["user:late"] == [("late_retraction", False)]
    provenance = [row[0] for row in together["rows"] if row[1] == "stigmem:received_from"]
    stored = [label for label, _ in page if label not in ("dup_stored", "dup_page")]
    assert provenance == stored
    assert all(row[2] == "peer" for row in together["rows"] if row[1] == "stigmem:received_from")
