"""SQL for asynchronous jobs. ``*_txn`` functions take a cursor and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stigmem_node.cluster.store import live_instance_sql
from stigmem_node.db import Cursor

_COLS = (
    "id, type, status, scope, created_by, estimated_s, created_at, started_at, completed_at,"
    " progress, result, error"
)


@dataclass(frozen=True, slots=True)
class NewJob:
    id: str
    type: str
    scope: str | None
    params: dict[str, Any]
    created_by: str
    estimated_s: int


def _dumps(value: dict[str, Any] | None) -> str | None:
    return orjson.dumps(value).decode() if value is not None else None


def insert_job_txn(cur: Cursor, job: NewJob, now: str, owner: str) -> None:
    """A ``pending`` job run by the process instance ``owner``."""
    cur.execute(
        "INSERT INTO jobs (id, type, status, scope, params, created_by, estimated_s, created_at,"
        " heartbeat_at, owner) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
        (job.id, job.type, job.scope, _dumps(job.params), job.created_by, job.estimated_s,
         now, now, owner),
    )  # fmt: skip


def get_job_txn(cur: Cursor, job_id: str) -> dict[str, Any] | None:
    row = cur.execute(f"SELECT {_COLS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        return None
    keys = _COLS.replace(" ", "").split(",")
    job = dict(zip(keys, row, strict=True))
    for key in ("progress", "result"):
        job[key] = orjson.loads(job[key]) if job[key] else None
    return job


def start_job_txn(cur: Cursor, job_id: str, now: str) -> None:
    cur.execute(
        "UPDATE jobs SET status = 'running', started_at = ?, heartbeat_at = ?"
        " WHERE id = ? AND status = 'pending'",
        (now, now, job_id),
    )


def progress_txn(cur: Cursor, job_id: str, now: str, progress: dict[str, Any]) -> None:
    cur.execute(
        "UPDATE jobs SET progress = ?, heartbeat_at = ? WHERE id = ? AND status = 'running'",
        (_dumps(progress), now, job_id),
    )


def finish_job_txn(cur: Cursor, job_id: str, now: str, result: dict[str, Any]) -> None:
    cur.execute(
        "UPDATE jobs SET status = 'done', result = ?, completed_at = ?, heartbeat_at = ?"
        " WHERE id = ?",
        (_dumps(result), now, now, job_id),
    )


def fail_job_txn(cur: Cursor, job_id: str, now: str, error: str) -> None:
    cur.execute(
        "UPDATE jobs SET status = 'failed', error = ?, completed_at = ?, heartbeat_at = ?"
        " WHERE id = ? AND status IN ('pending', 'running')",
        (error, now, now, job_id),
    )


def fail_orphans_txn(cur: Cursor, now: str, error: str) -> int:
    """Fail every unfinished job no live process runs: its owner's instance lease is gone
    (the process stopped or died), or it has no owner (written before owners were kept)."""
    cur.execute(
        "UPDATE jobs SET status = 'failed', error = :error, completed_at = :now,"
        " heartbeat_at = :now WHERE status IN ('pending', 'running')"
        f" AND (owner IS NULL OR NOT {live_instance_sql('jobs.owner')})",
        {"error": error, "now": now},
    )
    return int(cur.rowcount)
