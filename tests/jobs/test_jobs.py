"""Async decay and lint jobs: 202, polling, progress while running, shutdown and restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from stigmem_node.clock import FakeClock
from stigmem_node.jobs.service import RESTARTED, SHUT_DOWN
from tests import pg
from tests.conftest import NodeHarness, make_settings, start_node
from tests.decay.support import counts, mint, put

THRESHOLD = 3


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async for harness in start_node(tmp_path, clock=FakeClock(), async_job_threshold=THRESHOLD):
        yield harness


@pytest.fixture
async def admin(h: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with h.client() as c:
        for n in range(5):
            await put(c, entity=f"user:u{n}")
        yield c


class Hold:
    """Replaces ``JobService.checkpoint``: parks the job after each chunk until released."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def checkpoint(self, job_id: str) -> None:
        self.reached.set()
        await self.release.wait()


async def test_large_decay_runs_as_a_job(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    started = await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0})
    assert started.status_code == 202, started.text
    body = started.json()
    assert set(body) == {"job_id", "status", "estimated_s"}
    assert body["status"] == "pending"
    assert body["estimated_s"] == 60
    await h.node.jobs.wait(body["job_id"])

    job = (await admin.get(f"/v1/decay/jobs/{body['job_id']}")).json()
    assert job["status"] == "done"
    assert (job["scanned"], job["decayed"], job["dry_run"]) == (5, 5, False)
    assert job["job_id"] == body["job_id"]
    assert job["scope"] is None
    assert {"created_at", "started_at", "completed_at", "estimated_s"} <= set(job)
    assert (await admin.get("/v1/facts")).json()["total"] == 0


async def test_dry_run_is_always_synchronous(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    swept = await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0, "dry_run": "true"})
    assert swept.status_code == 200
    assert swept.json() == {"scanned": 5, "decayed": 0, "dry_run": True}
    assert (await counts(h))["jobs"] == 0


async def test_progress_is_visible_while_running(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    hold = Hold()
    h.node.jobs.checkpoint = hold.checkpoint  # type: ignore[method-assign]
    h.node.decay.chunk_rows = 2
    job_id = (await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0})).json()["job_id"]
    await hold.reached.wait()

    running = (await admin.get(f"/v1/decay/jobs/{job_id}")).json()
    assert running["status"] == "running"
    assert running["progress"]["processed"] == 2
    assert running["progress"]["total"] >= 5
    assert "completed_at" not in running
    # Ordinary writes are not blocked by a job in progress.
    await put(admin, entity="user:late")

    hold.release.set()
    await h.node.jobs.wait(job_id)
    done = (await admin.get(f"/v1/decay/jobs/{job_id}")).json()
    assert done["status"] == "done"
    assert done["decayed"] == 5  # the sweep covers the facts that existed when it started


async def test_large_lint_runs_as_a_job(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    await put(admin, entity="user:u0", relation="bare")
    started = await admin.post("/v1/lint", json={"scope": "company"})
    assert started.status_code == 202, started.text
    assert started.json()["estimated_s"] == 10
    job_id = started.json()["job_id"]
    await h.node.jobs.wait(job_id)
    job = (await admin.get(f"/v1/lint/jobs/{job_id}")).json()
    assert job["status"] == "done"
    assert job["fact_count"] == 6
    assert job["checks_run"] == ["contradiction", "stale", "orphan", "broken_ref", "namespacing"]
    assert [f["check"] for f in job["findings"]] == ["namespacing"]
    assert job["scope"] == "company"


async def test_job_lookups_that_fail(h: NodeHarness, admin: httpx.AsyncClient) -> None:
    job_id = (await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0})).json()["job_id"]
    await h.node.jobs.wait(job_id)
    other = await mint(admin, "user:other", ["read", "write"])
    fed = await mint(admin, "user:fed", ["federate"])
    async with h.client(other) as o, h.client(fed) as f:
        for client, path, status, detail in (
            (admin, "/v1/decay/jobs/not-a-job", 404, "job not found"),
            (admin, f"/v1/lint/jobs/{job_id}", 404, "job not found"),
            (o, f"/v1/decay/jobs/{job_id}", 404, "job not found"),
            (f, f"/v1/decay/jobs/{job_id}", 403, "read permission required"),
        ):
            got = await client.get(path)
            assert got.status_code == status, (path, got.text)
            assert got.json() == {"detail": detail}


async def test_shutdown_fails_a_running_job(tmp_path: Path) -> None:
    job_id = ""
    async for h in start_node(tmp_path, clock=FakeClock(), async_job_threshold=THRESHOLD):
        async with h.client() as admin:
            for n in range(5):
                await put(admin, entity=f"user:u{n}")
            hold = Hold()
            h.node.jobs.checkpoint = hold.checkpoint  # type: ignore[method-assign]
            h.node.decay.chunk_rows = 1
            job_id = (await admin.post("/v1/decay/sweep", params={"ttl_seconds": 0})).json()[
                "job_id"
            ]
            await hold.reached.wait()
    async for h in start_node(tmp_path, clock=FakeClock()):
        async with h.client() as admin:
            job = (await admin.get(f"/v1/decay/jobs/{job_id}")).json()
            assert job["status"] == "failed"
            assert job["error"] == SHUT_DOWN
            assert job["progress"]["processed"] == 1
            assert "completed_at" in job


async def test_restart_fails_jobs_a_crash_left_running(tmp_path: Path) -> None:
    async for _ in start_node(tmp_path):
        pass
    with pg.RawConnection(make_settings(tmp_path)) as conn:
        conn.execute(
            "INSERT INTO jobs (id, type, status, scope, params, created_by, estimated_s,"
            " created_at, started_at) VALUES ('crashed', 'lint', 'running', 'team', '{}',"
            " 'agent:admin', 10, '2026-01-01T00:00:00.000000+00:00',"
            " '2026-01-01T00:00:00.000000+00:00')"
        )
    async for h in start_node(tmp_path):
        async with h.client() as admin:
            job = (await admin.get("/v1/lint/jobs/crashed")).json()
    assert job["status"] == "failed"
    assert job["error"] == RESTARTED
