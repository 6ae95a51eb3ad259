"""Small parts: garden references, the membership cache, gardens with auth off."""

from __future__ import annotations

from pathlib import Path

import pytest

from stigmem_node.clock import FakeClock
from stigmem_node.gardens.cache import MembershipCache
from stigmem_node.gardens.models import garden_ref
from stigmem_node.gardens.service import node_authority
from tests.conftest import fact_body, start_node


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stigmem://testnode/garden/conf-garden", ("slug", "conf-garden")),
        ("stigmem://Other.Host:8765/garden/Conf-Garden/", ("slug", "conf-garden")),
        ("conf-garden", ("slug_or_id", "conf-garden")),
        (
            "0B4B5E1C-6F0A-4C36-9A53-7A1E1C0C0A11",
            ("slug_or_id", "0b4b5e1c-6f0a-4c36-9a53-7a1e1c0c0a11"),
        ),
        ("stigmem://testnode/garden/", None),
        ("stigmem://testnode/garden/bad_slug!", None),
        ("not a garden", None),
        ("", None),
    ],
)
def test_garden_ref(text: str, expected: tuple[str, str] | None) -> None:
    assert garden_ref(text) == expected


def test_node_authority() -> None:
    assert node_authority("http://LocalHost:8765") == "localhost:8765"
    assert node_authority("https://node.example.com") == "node.example.com"


def test_cache_expires_and_forgets_on_change() -> None:
    clock = FakeClock()
    cache = MembershipCache(clock, ttl_s=2.0)
    cache.put("user:a", frozenset({"g1"}), cache.generation)
    assert cache.get("user:a") == frozenset({"g1"})
    clock.advance(2.0)
    assert cache.get("user:a") is None
    cache.put("user:a", frozenset({"g1"}), cache.generation)
    cache.invalidate()
    assert cache.get("user:a") is None


def test_a_lookup_that_raced_a_change_is_not_stored() -> None:
    cache = MembershipCache(FakeClock(), ttl_s=2.0)
    started = cache.generation
    cache.invalidate()  # membership changed while the lookup was reading
    cache.put("user:a", frozenset(), started)
    assert cache.get("user:a") is None


def test_a_zero_lifetime_disables_the_cache() -> None:
    cache = MembershipCache(FakeClock(), ttl_s=0.0)
    cache.put("user:a", frozenset({"g"}), cache.generation)
    assert cache.get("user:a") is None


async def test_gardens_with_auth_off(tmp_path: Path) -> None:
    async for harness in start_node(tmp_path, auth_required=False):
        async with harness.client(None) as anon:
            created = await anon.post(
                "/v1/gardens", json={"slug": "g", "name": "G", "scope": "local"}
            )
            assert created.json()["created_by"] == "anon:trusted"
            written = await anon.post(
                "/v1/facts", json=fact_body(scope="local", garden_id="stigmem://testnode/garden/g")
            )
            assert written.status_code == 201, written.text
            page = await anon.get("/v1/facts", params={"garden_id": "stigmem://testnode/garden/g"})
            assert written.json()["id"] in {f["id"] for f in page.json()["facts"]}
            # anon:trusted holds no ``admin``: a garden it does not belong to stays closed.
            await harness.node.db.write(
                "drop_membership",
                lambda cur: cur.execute(
                    "DELETE FROM garden_members WHERE entity_uri = 'anon:trusted'"
                ),
            )
            harness.node.gardens.forget_memberships()
            assert (await anon.get(f"/v1/facts/{written.json()['id']}")).status_code == 403
