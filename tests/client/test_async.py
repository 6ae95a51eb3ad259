"""The asyncio client against a real node process."""

from __future__ import annotations

import pytest

from stigmem_node.client import AsyncStigmemClient, NotFound, new_fact

pytestmark = pytest.mark.process  # starts a real stigmem-node process


async def test_assert_query_iterate_retract(amemory: AsyncStigmemClient, unique: str) -> None:
    made = [await amemory.assert_fact(unique, f"item:n{i}", i, "agent:bot") for i in range(5)]
    assert (await amemory.get_fact(made[0].cid or "")).id == made[0].id
    seen = [fact.id async for fact in amemory.iter_facts(entity=unique, limit=2)]
    assert sorted(seen) == sorted(f.id for f in made)
    retraction = await amemory.retract(made[0])
    assert retraction.confidence == 0.0
    live = await amemory.query_facts(entity=unique, relation="item:n0")
    assert made[0].id not in [f.id for f in live.facts]


async def test_batch_and_conflicts(amemory: AsyncStigmemClient, unique: str) -> None:
    result = await amemory.assert_batch(
        [
            new_fact(unique, "pref:tea", "green", "agent:a", scope="team"),
            new_fact(unique, "pref:tea", "black", "agent:b", scope="team"),
        ],
        atomic=True,
    )
    assert (result.accepted, result.rejected) == (2, 0)
    page = await amemory.list_conflicts("unresolved", limit=500)
    mine = [c for c in page.conflicts if c.fact_a is not None and c.fact_a.entity == unique]
    assert len(mine) == 1
    winner = mine[0].fact_a
    assert winner is not None
    done = await amemory.resolve_conflict(mine[0].conflict_id, winning_fact_id=winner.id)
    assert done.conflict_status == "resolved"


async def test_errors_carry_detail(amemory: AsyncStigmemClient) -> None:
    with pytest.raises(NotFound) as err:
        await amemory.resolve_conflict("stigmem:conflict:nope", winning_fact_id="x")
    assert err.value.detail == "conflict not found"
