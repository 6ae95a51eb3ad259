"""The audit log is append-only; retention deletes only through its recorded prune window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from stigmem_node.audit import retention
from stigmem_node.clock import FakeClock
from tests import pg
from tests.conftest import NodeHarness, fact_body, start_node
from tests.identity.support import count, events, rows


def raw(harness: NodeHarness) -> pg.RawConnection:
    return pg.RawConnection(harness.node.settings)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET event_type = 'nothing'",
        "UPDATE audit_log SET ts = '2000-01-01T00:00:00.000000+00:00'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE ts < '9999'",
    ],
)
async def test_ordinary_update_and_delete_fail(
    harness: NodeHarness, client: httpx.AsyncClient, sql: str
) -> None:
    await client.post("/v1/facts", json=fact_body())
    before = rows(harness, "SELECT * FROM audit_log ORDER BY seq")
    with raw(harness) as conn, pytest.raises(pg.INTEGRITY_ERRORS, match="append-only"):
        conn.execute(sql)
    assert rows(harness, "SELECT * FROM audit_log ORDER BY seq") == before


async def test_a_prune_window_admits_only_rows_older_than_its_horizon(
    harness: NodeHarness, client: httpx.AsyncClient
) -> None:
    await client.post("/v1/facts", json=fact_body())
    with raw(harness) as conn:
        conn.begin()
        conn.execute(
            "INSERT INTO audit_prune_window (id, horizon) VALUES (1, '2000-01-01T00:00:00')"
        )
        with pytest.raises(pg.INTEGRITY_ERRORS, match="append-only"):
            conn.execute("DELETE FROM audit_log")  # every row is newer than the horizon
        with pytest.raises(pg.INTEGRITY_ERRORS, match="append-only"):
            conn.execute("UPDATE audit_log SET detail = NULL")  # UPDATE: never
        conn.rollback()
    assert count(harness, "audit_prune_window") == 0


@pytest.fixture
async def retained(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for h in start_node(tmp_path, clock=FakeClock(), audit_retention_days=30):
        yield h


async def test_prune_deletes_past_retention_and_records_it(retained: NodeHarness) -> None:
    assert retained.clock is not None
    async with retained.client() as client:
        for i in range(3):
            await client.post("/v1/facts", json=fact_body(entity=f"user:old{i}"))
        retained.clock.advance(20 * 86400)
        await client.post("/v1/facts", json=fact_body(entity="user:recent"))
        assert await retained.node.audit.prune() == 0  # nothing is 30 days old yet
        retained.clock.advance(11 * 86400)
        old_total = count(retained, "audit_log")
        assert await retained.node.audit.prune() == 4  # bootstrap key + three old writes
    assert count(retained, "audit_log") == old_total - 4 + 1
    assert rows(retained, "SELECT event_type FROM audit_log ORDER BY seq") == [
        ("fact_write",),
        ("audit_pruned",),
    ]
    [pruned] = await events(retained, "audit_pruned")
    assert pruned["entity_uri"] == "system:audit-retention"
    assert pruned["detail"]["deleted"] == 4
    assert pruned["detail"]["horizon"] == "2026-01-02T00:00:00.000000+00:00"
    assert count(retained, "audit_prune_window") == 0  # closed again
    assert count(retained, "facts") == 4  # facts are never touched


async def test_prune_works_in_chunks(
    retained: NodeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert retained.clock is not None
    monkeypatch.setattr("stigmem_node.audit.service.PRUNE_CHUNK", 2)
    async with retained.client() as client:
        facts = [fact_body(entity=f"user:{i}") for i in range(5)]
        await client.post("/v1/facts/batch", json={"facts": facts})
    retained.clock.advance(31 * 86400)
    assert await retained.node.audit.prune() == 7  # key, 5 writes, the batch outcome
    deleted = [e["detail"]["deleted"] for e in await events(retained, "audit_pruned")]
    assert deleted == [2, 2, 2, 1]


async def test_retention_off_by_default(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    await client.post("/v1/facts", json=fact_body())
    assert await harness.node.audit.prune() == 0
    assert await events(harness, "audit_pruned") == []


async def test_a_window_left_open_is_closed_at_start(tmp_path: Path) -> None:
    async for node in start_node(tmp_path):
        settings = node.node.settings
    with pg.RawConnection(settings) as conn:
        conn.execute("INSERT INTO audit_prune_window (id, horizon) VALUES (1, '9999')")
    async for node in start_node(tmp_path):
        assert count(node, "audit_prune_window") == 0


def test_horizon() -> None:
    clock = FakeClock()
    assert retention.horizon_for(clock.now(), 1) == "2025-12-31T00:00:00.000000+00:00"
