"""A batch that is neither atomic nor keyed is written while it is checked, part by part, in
one transaction (``FactService.assert_batch``, ``Database.stream``). The answer, the rows and
the audit trail must be those of the same batch written at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from stigmem_node.facts import service
from tests.conftest import NodeHarness, fact_body
from tests.facts.support import count_rows, raw_rows

BAD = fact_body(entity="user:bad", value={"type": "number", "v": "seven"})


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "BATCH_PART", 3)


def _item(i: int, **overrides: Any) -> dict[str, Any]:
    return fact_body(**({"entity": f"user:part-{i}"} | overrides))


async def test_results_in_input_order_across_parts(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    items = [_item(i) for i in range(10)]
    items[4] = BAD  # second part
    items[8] = fact_body(entity="   ")  # third part
    response = await client.post("/v1/facts/batch", json={"facts": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (8, 2)
    assert [r["index"] for r in body["results"]] == list(range(10))
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [201, 201, 201, 201, 422, 201, 201, 201, 400, 201]
    written = {r["fact"]["id"] for r in body["results"] if r["status"] == 201}
    assert count_rows(harness) == 8
    stored = {row[0] for row in raw_rows(harness, "SELECT id FROM facts")}
    assert stored == written
    assert [r["fact"]["entity"] for r in body["results"][:2]] == ["user:part-0", "user:part-1"]


async def test_one_audit_summary_and_one_write_event_per_fact(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    items = [_item(i) for i in range(7)] + [BAD]
    response = await client.post("/v1/facts/batch", json={"facts": items})
    assert response.json()["accepted"] == 7
    assert count_rows(harness, "audit_log", "event_type = 'fact_write'") == 7
    summaries = raw_rows(harness, "SELECT detail FROM audit_log WHERE event_type = 'fact_batch'")
    assert len(summaries) == 1
    detail = summaries[0][0]
    assert '"accepted":7' in detail.replace(" ", "")
    assert '"rejected":1' in detail.replace(" ", "")


async def test_a_later_part_sees_what_an_earlier_part_wrote(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    """The same content twice (parts 1 and 2) is one fact; another value on the same triple
    (part 3) contradicts it, as three single asserts in a row would."""
    first = _item(0, entity="user:same")
    rival = _item(0, entity="user:same", value={"type": "string", "v": "red"})
    items = [first, _item(1), _item(2), first, _item(4), _item(5), rival]
    response = await client.post("/v1/facts/batch", json={"facts": items})
    results = response.json()["results"]
    assert all(r["status"] == 201 for r in results), results
    assert results[3]["fact"]["id"] == results[0]["fact"]["id"]  # re-assert: the stored fact
    assert count_rows(harness, "facts", "entity = 'user:same'") == 2
    assert count_rows(harness, "conflicts") == 1
    assert results[6]["fact"]["id"] != results[0]["fact"]["id"]


async def test_atomic_and_keyed_batches_stay_one_transaction(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    items = [_item(i) for i in range(7)] + [BAD]
    atomic = await client.post("/v1/facts/batch", json={"facts": items, "atomic": True})
    assert atomic.status_code == 422
    assert count_rows(harness) == 0  # nothing of the first parts' worth was written
    keyed = {"facts": [_item(i) for i in range(7)], "idempotency_key": "parts-k"}
    first = await client.post("/v1/facts/batch", json=keyed)
    again = await client.post("/v1/facts/batch", json=keyed)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert count_rows(harness) == 7
