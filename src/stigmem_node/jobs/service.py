"""Asynchronous jobs: persisted rows, in-process tasks, progress while they run.

A job row goes ``pending`` → ``running`` → ``done`` | ``failed``. The work runs as a task of
this process; it reports progress (persisted with a heartbeat) between bounded chunks, so a
poller sees it advance. Invariant: no job stays ``running`` without a task working on it —
a shut-down cancels the tasks and fails their jobs, and every process fails the unfinished
jobs of processes that are gone (a crash included: the job's ``owner`` no longer holds its
``instance`` lease, see ``cluster``), at start-up and then at every lease renewal. Several
processes sharing a database each run only their own jobs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from stigmem_node.auth.caller import Caller
from stigmem_node.clock import Clock, format_ts
from stigmem_node.db import Database
from stigmem_node.errors import NodeError, NotFound
from stigmem_node.jobs import store
from stigmem_node.jobs.store import NewJob

log = logging.getLogger("stigmem.jobs")

RESTARTED = "interrupted: the node restarted before the job finished; run it again"
SHUT_DOWN = "interrupted: the node shut down before the job finished; run it again"


@dataclass(slots=True)
class JobContext:
    """Handed to a job's work: where it reports progress."""

    job_id: str
    jobs: JobService

    async def progress(self, progress: dict[str, Any]) -> None:
        """Persist ``progress`` (and the heartbeat), then let the runner pause if it wants."""
        await self.jobs.db.write(
            "job_progress", store.progress_txn, self.job_id, self.jobs.now(), progress
        )
        await self.jobs.checkpoint(self.job_id)


Work = Callable[[JobContext], Awaitable[dict[str, Any]]]


class JobService:
    """Runs jobs as tasks of this process, at most ``max_running`` at a time."""

    def __init__(self, db: Database, clock: Clock, *, owner: str, max_running: int = 1) -> None:
        self.db = db
        self.clock = clock
        self.owner = owner  # this process's instance id (cluster.Leases.instance)
        self._slots = asyncio.Semaphore(max_running)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def now(self) -> str:
        return format_ts(self.clock.now())

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        await self.fail_orphans()

    async def fail_orphans(self) -> None:
        """Fail the unfinished jobs of processes that are gone."""
        failed = await self.db.write(
            "fail_orphan_jobs", store.fail_orphans_txn, self.now(), RESTARTED
        )
        if failed:
            log.warning("%d unfinished job(s) of a stopped process marked failed", failed)

    async def stop(self) -> None:
        """Cancel running jobs; each marks itself failed before the database closes."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def checkpoint(self, job_id: str) -> None:
        """Called between a job's chunks. A no-op; tests replace it to hold a job mid-way."""

    # -- jobs ----------------------------------------------------------------------------
    async def submit(
        self,
        caller: Caller,
        job_type: str,
        scope: str | None,
        params: dict[str, Any],
        estimated_s: int,
        work: Work,
    ) -> dict[str, Any]:
        """Persist a ``pending`` job, start its task; return the 202 body."""
        job = NewJob(str(uuid.uuid4()), job_type, scope, params, caller.entity_uri, estimated_s)
        await self.db.write("insert_job", store.insert_job_txn, job, self.now(), self.owner)
        task = asyncio.create_task(self._run(job.id, work), name=f"job-{job.id}")
        self._tasks[job.id] = task
        return {"job_id": job.id, "status": "pending", "estimated_s": estimated_s}

    async def get(self, caller: Caller, job_type: str, job_id: str) -> dict[str, Any]:
        """The job record; 404 ``job not found`` for unknown ids, other types, other callers.

        A job's result is what its creator could see, so only the creator (or an admin)
        may read it.
        """
        caller.require("read")
        job = await self.db.read("get_job", store.get_job_txn, job_id)
        if (
            job is None
            or job["type"] != job_type
            or (job["created_by"] != caller.entity_uri and not caller.has("admin"))
        ):
            raise NotFound("job not found")
        return render(job)

    async def wait(self, job_id: str) -> None:
        """Until the job's task (if this process runs it) has finished."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, job_id: str, work: Work) -> None:
        try:
            async with self._slots:
                await self.db.write("start_job", store.start_job_txn, job_id, self.now())
                result = await work(JobContext(job_id, self))
            await self.db.write("finish_job", store.finish_job_txn, job_id, self.now(), result)
        except asyncio.CancelledError:
            await self._fail(job_id, SHUT_DOWN)
            raise
        except NodeError as exc:
            detail = exc.detail
            message = detail.get("message") if isinstance(detail, dict) else None
            await self._fail(job_id, str(message or detail))
        except Exception as exc:
            log.exception("job %s failed", job_id)
            await self._fail(job_id, f"internal error ({type(exc).__name__}); see the node log")
        finally:
            self._tasks.pop(job_id, None)

    async def _fail(self, job_id: str, error: str) -> None:
        await self.db.write("fail_job", store.fail_job_txn, job_id, self.now(), error)


def render(job: dict[str, Any]) -> dict[str, Any]:
    """The wire job record: result fields merged in when done, ``error`` when failed."""
    out: dict[str, Any] = {
        "job_id": job["id"],
        "type": job["type"],
        "status": job["status"],
        "scope": job["scope"],
        "estimated_s": job["estimated_s"],
        "created_at": job["created_at"],
    }
    for key in ("started_at", "completed_at"):
        if job[key] is not None:
            out[key] = job[key]
    if job["progress"] is not None:
        out["progress"] = job["progress"]
    if job["result"] is not None:
        out.update(job["result"])
    if job["error"] is not None:
        out["error"] = job["error"]
    return out
