"""KeyService: O(1) lookup by digest, one Argon2 verify per key per cache window."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from stigmem_node.auth import service
from stigmem_node.auth import store as key_store
from stigmem_node.auth.service import KeyService, key_digest
from stigmem_node.clock import FakeClock
from tests.conftest import ADMIN_KEY, NodeHarness, start_node


@pytest.fixture
def verifies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2 verification the node performs, by key hash."""
    calls: list[str] = []
    real = service._verify

    def counting(key_hash: str, raw_key: str) -> bool:
        calls.append(key_hash)
        return real(key_hash, raw_key)

    monkeypatch.setattr(service, "_verify", counting)
    return calls


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for h in start_node(tmp_path, clock=FakeClock()):
        yield h


def register_many(keys: KeyService, n: int) -> list[str]:
    """``n`` stored keys sharing one (slow) Argon2 hash: only the digests must differ."""
    template = keys.build_key("template-key-0123456789abcdefghijklmn", "agent:many", ["read"])
    raws = [f"many-key-{i:04d}-0123456789abcdefghijklmnop" for i in range(n)]
    for i, raw in enumerate(raws):
        row = replace(template, id=f"00000000-0000-4000-8000-{i:012d}", key_digest=key_digest(raw))
        keys.insert_sync(row, "test")
    return raws


async def test_unknown_key_never_verifies_whatever_the_key_count(
    node: NodeHarness, verifies: list[str]
) -> None:
    register_many(node.node.keys, 200)
    for attempt in range(5):
        assert (
            await node.node.keys.authenticate(f"unknown-key-{attempt}-0123456789abcdefgh") is None
        )
    assert verifies == []


async def test_known_key_verifies_once_then_is_cached(
    node: NodeHarness, verifies: list[str]
) -> None:
    assert node.clock is not None
    async with node.client() as client:
        for _ in range(3):
            assert (await client.get("/v1/me")).status_code == 200
    assert len(verifies) == 1
    node.clock.advance(59)
    assert await node.node.keys.authenticate(ADMIN_KEY) is not None
    node.clock.advance(2)  # past the 60 s window: the row is read again, Argon2 is not rerun
    assert await node.node.keys.authenticate(ADMIN_KEY) is not None
    assert len(verifies) == 1


async def test_a_lapsed_cache_still_sees_a_revocation_made_elsewhere(
    node: NodeHarness, verifies: list[str]
) -> None:
    """Another process sharing the database revokes the key: within 60 s it is refused."""
    assert node.clock is not None
    keys = node.node.keys
    raw = "revoked-elsewhere-0123456789abcdefghijk"
    row = keys.build_key(raw, "agent:elsewhere", ["read"])
    keys.insert_sync(row, "t")
    assert await keys.authenticate(raw) is not None
    node.node.db.write_sync(key_store.delete_key_txn, row.id)  # not through this KeyService
    node.clock.advance(61)
    assert await keys.authenticate(raw) is None
    assert len(verifies) == 1


async def test_concurrent_first_requests_share_one_verification(
    node: NodeHarness, verifies: list[str]
) -> None:
    keys = node.node.keys
    raw = "cold-start-key-0123456789abcdefghijklmn"
    keys.insert_sync(keys.build_key(raw, "agent:cold", ["read"]), "t")
    callers = await asyncio.gather(*(keys.authenticate(raw) for _ in range(20)))
    assert all(c is not None and c.entity_uri == "agent:cold" for c in callers)
    assert len(verifies) == 1


async def test_cache_can_be_disabled(tmp_path: Path, verifies: list[str]) -> None:
    """With no caller cache every request re-reads the key (revocation is immediate even
    across processes); Argon2 still runs only once per key."""
    async for h in start_node(tmp_path, api_key_cache_s=0):
        keys = h.node.keys
        raw = "uncached-key-0123456789abcdefghijklmnop"
        row = keys.build_key(raw, "agent:uncached", ["read"])
        keys.insert_sync(row, "t")
        for _ in range(2):
            assert await keys.authenticate(raw) is not None
        h.node.db.write_sync(key_store.delete_key_txn, row.id)
        assert await keys.authenticate(raw) is None
        assert len(verifies) == 1


async def test_cache_window_is_at_most_60_seconds(tmp_path: Path) -> None:
    from stigmem_node.config import Settings

    with pytest.raises(ValueError, match="api_key_cache_s"):
        Settings(db_path=tmp_path / "x.db", api_key_cache_s=61)


async def test_digest_match_with_a_wrong_hash_is_refused(
    node: NodeHarness, verifies: list[str]
) -> None:
    keys = node.node.keys
    other = keys.build_key("some-other-key-0123456789abcdefghijk", "agent:o", ["read"])
    raw = "planted-digest-key-0123456789abcdefghij"
    keys.insert_sync(
        replace(other, id="00000000-0000-4000-8000-00000000beef", key_digest=key_digest(raw)), "t"
    )
    assert await keys.authenticate(raw) is None
    assert len(verifies) == 1


@pytest.mark.parametrize("raw", ["", "x" * 513])
async def test_empty_or_oversized_keys_are_refused_cheaply(
    node: NodeHarness, verifies: list[str], raw: str
) -> None:
    assert await node.node.keys.authenticate(raw) is None
    assert verifies == []


async def test_revocation_drops_the_cached_caller(node: NodeHarness) -> None:
    keys = node.node.keys
    raw = "revoke-me-0123456789abcdefghijklmnopqrs"
    row = keys.build_key(raw, "agent:gone", ["read"])
    keys.insert_sync(row, "t")
    caller = await keys.authenticate(raw)
    assert caller is not None
    await keys.revoke_key(caller, row.id)
    assert await keys.authenticate(raw) is None
