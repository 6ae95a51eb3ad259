"""Two node processes on one database (here: two in-process nodes sharing it, on each engine):
leases on shared duties, presence, jobs of a stopped process, one bootstrap key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stigmem_node.auth.store import count_keys_txn
from stigmem_node.clock import FakeClock
from stigmem_node.jobs.service import RESTARTED
from tests import pg
from tests.conftest import ADMIN_KEY, NodeHarness, fact_body, start_node


@contextlib.asynccontextmanager
async def node(tmp_path: Path, clock: FakeClock, **settings: object) -> AsyncIterator[NodeHarness]:
    """A node on the database of ``tmp_path`` (every call: the same database)."""
    nodes = start_node(tmp_path, clock=clock, **settings)
    harness = await anext(nodes)
    try:
        yield harness
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await anext(nodes)


async def test_a_duty_is_held_by_one_process_at_a_time(tmp_path: Path) -> None:
    clock = FakeClock()
    async with node(tmp_path, clock) as a, node(tmp_path, clock) as b:
        assert await a.node.leases.hold("duty")
        assert await a.node.leases.hold("duty")  # holding again renews
        assert not await b.node.leases.hold("duty")
        assert await b.node.leases.holder("duty") == a.node.leases.instance
        await a.node.leases.release("duty")
        assert await b.node.leases.hold("duty")
        assert not await a.node.leases.hold("duty")


async def test_a_dead_holders_lease_expires_and_renewal_keeps_a_live_one(tmp_path: Path) -> None:
    clock = FakeClock()
    async with node(tmp_path, clock) as a, node(tmp_path, clock) as b:
        assert await a.node.leases.hold("duty")
        clock.advance(a.node.leases.ttl_s / 2)
        await a.node.leases.renew()  # alive: the lease is pushed forward
        clock.advance(a.node.leases.ttl_s / 2 + 1)
        assert not await b.node.leases.hold("duty")
        clock.advance(a.node.leases.ttl_s)  # a stopped renewing: it is presumed dead
        assert await b.node.leases.hold("duty")
        await a.node.leases.renew()
        assert not a.node.leases.holds("duty")  # a learns it lost the duty
        assert await b.node.leases.holder("duty") == b.node.leases.instance


async def test_a_stopped_process_releases_its_leases(tmp_path: Path) -> None:
    clock = FakeClock()
    async with node(tmp_path, clock) as a:
        async with node(tmp_path, clock) as b:
            assert await b.node.leases.hold("duty")
            instance = b.node.leases.instance_lease
            assert await a.node.leases.holder(instance) == b.node.leases.instance
        assert await a.node.leases.holder(instance) is None
        assert await a.node.leases.hold("duty")


async def test_periodic_decay_runs_in_one_process(tmp_path: Path) -> None:
    clock = FakeClock()
    async with node(tmp_path, clock) as a, node(tmp_path, clock) as b:
        async with a.client() as client:
            assert (await client.post("/v1/facts", json=fact_body())).status_code == 201
        assert await a.node.decay_scheduler.sweep_once() is not None
        assert await b.node.decay_scheduler.sweep_once() is None  # a holds the duty
        assert (a.node.decay_scheduler.sweeps, b.node.decay_scheduler.sweeps) == (1, 0)


def _job_row(job_id: str, owner: str | None) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO jobs (id, type, status, scope, params, created_by, estimated_s,"
        " created_at, started_at, owner) VALUES (?, 'lint', 'running', 'team', '{}',"
        " 'agent:admin', 10, '2026-01-01T00:00:00.000000+00:00',"
        " '2026-01-01T00:00:00.000000+00:00', ?)",
        (job_id, owner),
    )


async def _status(h: NodeHarness, job_id: str) -> str:
    async with h.client() as admin:
        return str((await admin.get(f"/v1/lint/jobs/{job_id}")).json()["status"])


async def test_only_jobs_of_processes_that_are_gone_are_failed(tmp_path: Path) -> None:
    clock = FakeClock()
    async with node(tmp_path, clock) as a:
        with pg.RawConnection(a.node.settings) as conn:
            conn.execute(*_job_row("alive", a.node.leases.instance))
            conn.execute(*_job_row("gone", "0" * 32))
        async with node(tmp_path, clock) as b:  # starting fails the orphans it sees
            assert await _status(b, "gone") == "failed"
            assert await _status(b, "alive") == "running"  # a still runs it
            clock.advance(3 * a.node.leases.ttl_s)  # a stops renewing (it "died")
            await b.node.leases.renew()
            assert await _status(b, "alive") == "failed"
            async with b.client() as admin:
                job = (await admin.get("/v1/lint/jobs/alive")).json()
            assert job["error"] == RESTARTED


@pytest.mark.parametrize("env_key", [ADMIN_KEY, ""])
async def test_a_process_losing_the_bootstrap_race_registers_nothing(
    tmp_path: Path, env_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes start on an empty store: both see no key, one registers first."""
    async with node(tmp_path, FakeClock()) as first:
        keys = first.node.keys
        before = pg.rows(first.node.db, "SELECT id FROM api_keys")
        # The late process counted the keys before the first one committed its own.
        read = keys._db.read_sync
        monkeypatch.setattr(
            keys._db, "read_sync", lambda fn, *a: 0 if fn is count_keys_txn else read(fn, *a)
        )
        data_dir = tmp_path / "late"
        assert keys.bootstrap(data_dir, env_key) is None
        assert pg.rows(first.node.db, "SELECT id FROM api_keys") == before
        assert not (data_dir / "admin.key").exists()  # no file naming an unregistered key
