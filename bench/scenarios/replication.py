"""Replication (CONTRACT §8): N facts on node A reach an empty node B through federation.

Node A's database is pre-loaded with N replicable facts (``public``/``company`` scopes,
bodies from ``bench.bodies``, rows made by the node's own insert code); node B starts
empty. Both are real ``stigmem-node`` processes on 127.0.0.1 (SQLite, ``synchronous=FULL``,
federation on, plain HTTP on loopback, a short pull interval). They handshake both ways
with the operator's CLI exactly as ``make demo`` does (``infra/soak/wire.py``: register-peer
on each side, approve by fingerprint). The clock starts when the last approval returns (B
can pull nothing before A has approved it) and stops when B counts all N facts.

Headline: ``replication_s`` and ``replication_facts_s`` at the largest size run. The note
also gives each node's CPU per replicated fact over the timed part (``cpu_us_a``: serving,
``cpu_us_b``: pulling, checking, writing; medians of the runs), which the machine's other
load disturbs less than the seconds, and the load average when the runs began.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx

from bench.bodies import fact_body
from bench.context import Context
from bench.dataset import _Recorder, create_schema, node_connect
from bench.servers import RATE_LIMIT, ROOT, proc_cpu_seconds
from stigmem_node.clock import FakeClock
from stigmem_node.db import Cursor
from stigmem_node.facts.hlc import HybridClock
from stigmem_node.facts.store import NewFact, WriteContext, insert_row_txn
from stigmem_node.facts.values import encode_v

sys.path.insert(0, str(ROOT / "infra" / "soak"))
from wire import WireNode, run_wiring

from cluster import LocalNode, cli_runner

REPLICABLE = ("public", "company")
SIZES = {"smoke": 1_000, "quick": 10_000, "full": 100_000}
RUNS = {"smoke": 1, "quick": 1, "full": 3}  # the median is reported
TIMEOUT_S = {"smoke": 60.0, "quick": 120.0, "full": 300.0}
TARGET_S = 20.0  # CONTRACT §8, at 100 000 facts
POLL_S = 0.1
INGESTED = 'stigmem_federation_facts_ingested_total{direction="pull"}'
FEDERATION = {
    "STIGMEM_FEDERATION_PULL_INTERVAL_S": "0.2",
    "STIGMEM_FEDERATION_BACKOFF_BASE_S": "0.2",
    "STIGMEM_FEDERATION_BACKOFF_MAX_S": "1",
    "STIGMEM_SQLITE_SYNCHRONOUS": "full",
    "STIGMEM_RATE_LIMIT_WRITE_PER_HOUR": RATE_LIMIT,
    "STIGMEM_RATE_LIMIT_READ_PER_HOUR": RATE_LIMIT,
    "STIGMEM_RATE_LIMIT_ADMIN_PER_HOUR": RATE_LIMIT,
}


def replication(ctx: Context) -> None:
    count = SIZES[ctx.profile.name] if ctx.profile.name in SIZES else SIZES["full"]
    template = ctx.workdir / f"replication-{count}.db"
    loaded = time.monotonic()
    preload_replicable(template, count)
    ctx.log(f"  node A's database: {count} facts written in {time.monotonic() - loaded:.1f}s")
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    runs = [
        _one_run(ctx, count, template, ctx.workdir / f"replication-{run}")
        for run in range(RUNS.get(ctx.profile.name, 1))
    ]
    seconds = sorted(run.seconds for run in runs)
    median = seconds[len(seconds) // 2]
    rate = round(count / median, 1)
    cpu: dict[str, Any] = {}
    for name, spent in (("a", [run.cpu_a for run in runs]), ("b", [run.cpu_b for run in runs])):
        known = sorted(s for s in spent if s is not None)
        if len(known) == len(spent):
            cpu[f"cpu_us_{name}"] = round(known[len(known) // 2] / count * 1e6, 1)
    ctx.note(f"replication/{count}", seconds=round(median, 2), facts_s=rate,
             runs=[round(s, 2) for s in seconds], **cpu, load=load)  # fmt: skip
    ctx.headline[f"replication_s@{count}"] = round(median, 2)
    ctx.headline[f"replication_facts_s@{count}"] = rate


@dataclass(frozen=True, slots=True)
class _Run:
    seconds: float
    cpu_a: float | None  # CPU seconds of node A in the timed part (None without /proc)
    cpu_b: float | None


def _cpu(node: LocalNode) -> float | None:
    return proc_cpu_seconds(node.proc.pid) if node.proc is not None else None


def _spent(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


def _one_run(ctx: Context, count: int, template: Path, root: Path) -> _Run:
    env = {**FEDERATION, **ctx.node_env}
    a, b = LocalNode("node-a", root, env=env), LocalNode("node-b", root, env=env)
    shutil.copyfile(template, a.db_path)
    try:
        a.start()
        b.start()
        approved = _wire(a, b)
        cpu_a, cpu_b = _cpu(a), _cpu(b)
        elapsed = _wait_for(b, count, approved, TIMEOUT_S.get(ctx.profile.name, 300.0))
        run = _Run(elapsed, _spent(cpu_a, _cpu(a)), _spent(cpu_b, _cpu(b)))
        _check_stored(b, count)
    except Exception:
        ctx.log(a.tail())
        ctx.log(b.tail())
        raise
    finally:
        a.stop()
        b.stop()
    per_fact = "".join(
        f", {name} {spent / count * 1e6:.0f} µs CPU/fact"
        for name, spent in (("A", run.cpu_a), ("B", run.cpu_b))
        if spent is not None
    )
    ctx.log(f"  {count} facts A -> B in {elapsed:.2f}s ({count / elapsed:.0f} facts/s{per_fact})")
    return run


def _wire(a: LocalNode, b: LocalNode) -> float:
    """Handshake both ways with the CLI; the monotonic time the last approval returned."""
    runner = cli_runner([a, b])
    approved = [time.monotonic()]

    def timed(node: WireNode, args: list[str]) -> Any:
        done = runner(node, args)
        if args[:2] == ["federation", "approve"]:
            approved.append(time.monotonic())
        return done

    run_wiring([a.wire_node(), b.wire_node()], timed, log=lambda _text: None)
    return approved[-1]


def _wait_for(node: LocalNode, count: int, since: float, timeout_s: float) -> float:
    """Seconds from ``since`` until ``node`` has ingested ``count`` facts.

    Polls the ingest counter of ``/metrics`` (bumped once a page is committed: cheap, so
    the poll does not compete with the writes it measures)."""
    deadline = since + timeout_s
    held = 0
    with node.client() as http:
        while time.monotonic() < deadline:
            held = _ingested(http)
            if held >= count:
                return time.monotonic() - since
            time.sleep(POLL_S)
    raise TimeoutError(f"node B ingested {held} of {count} facts after {timeout_s:.0f}s")


def _check_stored(node: LocalNode, count: int) -> None:
    """Untimed: ``GET /v1/facts`` counts every ingested fact."""
    with node.client() as http:
        stored = sum(_count(http, scope) for scope in REPLICABLE)
    if stored != count:
        raise RuntimeError(f"node B ingested {count} facts but stores {stored}")


def _ingested(http: httpx.Client) -> int:
    got = http.get("/metrics")
    got.raise_for_status()
    for line in got.text.splitlines():
        if line.startswith(INGESTED):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def _count(http: httpx.Client, scope: str) -> int:
    got = http.get("/v1/facts", params={"scope": scope, "limit": 1, "include_contradicted": True})
    got.raise_for_status()
    return int(got.json()["total"])


def preload_replicable(path: Path, count: int, chunk: int = 20_000) -> None:
    """Create ``path`` with ``count`` public/company facts written over the last hour (well
    inside the peers' HLC skew bounds), rows made by the node's own ``insert_row_txn``."""
    create_schema(path)
    clock = FakeClock(datetime.now(UTC) - timedelta(hours=1))
    step = 3000.0 / max(count, 1)
    write_ctx = WriteContext(
        clock=clock, hlc=HybridClock(lambda: int(clock.now().timestamp() * 1000))
    )
    rng = random.Random(count)
    conn = node_connect(path, "off")
    try:
        for begin in range(0, count, chunk):
            rec = _Recorder()
            for n in range(begin, min(begin + chunk, count)):
                insert_row_txn(cast(Cursor, rec), write_ctx, _fact(n, rng))
                clock.advance(step)
            conn.execute("BEGIN")
            conn.executemany(rec.calls[0][0], [params for _sql, params in rec.calls])
            conn.execute("COMMIT")
        conn.execute("PRAGMA optimize")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _fact(n: int, rng: random.Random) -> NewFact:
    body = fact_body("repl", n)
    value = body["value"]
    return NewFact(
        entity=body["entity"],
        relation=body["relation"],
        value_type=value["type"],
        value_v=encode_v(value["type"], value["v"]),
        source=body["source"],
        confidence=float(body["confidence"]),
        scope=REPLICABLE[rng.random() < 0.5],
        writer="agent:admin",
    )
