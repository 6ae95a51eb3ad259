"""Resolving a conflict inside a garden writes garden facts: it needs a garden write role."""

from __future__ import annotations

from stigmem_node.gardens.service import READER_CANNOT_WRITE
from tests.conftest import NodeHarness
from tests.gardens.support import cast_of


async def test_garden_reader_cannot_resolve_writer_can(harness: NodeHarness) -> None:
    async with cast_of(harness) as cast:
        first = await cast.garden_fact()
        second = await cast.garden_fact(value={"type": "string", "v": "another-value"})
        assert second["contradicted"] is True
        listed = await cast["reader"].get("/v1/conflicts")
        (conflict,) = listed.json()["conflicts"]
        before = (await cast.admin.get("/v1/facts", params={"include_expired": "true"})).json()
        refused = await cast["reader"].post(
            f"/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"winning_fact_id": first["id"]},
        )
        assert refused.status_code == 403
        assert refused.json() == {"detail": READER_CANNOT_WRITE}
        after = (await cast.admin.get("/v1/facts", params={"include_expired": "true"})).json()
        assert after["total"] == before["total"]  # nothing written
        outsider = await cast["outsider"].post(
            f"/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"winning_fact_id": first["id"]},
        )
        assert outsider.status_code == 404  # cannot even learn the conflict exists
        resolved = await cast["writer"].post(
            f"/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"winning_fact_id": first["id"]},
        )
        assert resolved.status_code == 200, resolved.text
