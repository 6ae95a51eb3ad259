"""Throughput on PostgreSQL with one and two node processes (and SQLite, one, for reference).

    .venv/bin/python scripts/bench_postgres.py --admin-url postgresql://user@127.0.0.1:5432/postgres

Built from the bench harness's parts (``bench.servers`` nodes, ``bench.worker`` connections,
``bench.plans`` requests) so the figures compare with ``make bench``: single-fact asserts
(32 clients), batches of 500 facts (4 clients) and entity queries (8 clients) over a store of
``--facts`` facts. With two processes both serve one database and the clients are split
between them (what a load balancer would do). Each configuration gets a fresh database,
created from ``--admin-url`` and dropped afterwards. Use a durable server (``fsync`` and
``synchronous_commit`` on) for figures that mean anything: the test server of
``scripts/postgres-test-server.sh`` runs without fsync.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bodies import fact_body  # noqa: E402
from bench.plans import RequestPlan  # noqa: E402
from bench.servers import BENCH_KEY, HOST, ServerProcess, node_server  # noqa: E402
from bench.stats import RoundStats  # noqa: E402
from bench.worker import WorkerSpec, run_worker, warm_up  # noqa: E402

WORKERS = 2  # load-generator processes in every configuration


def _database_url(admin: str, name: str) -> str:
    base, sep, query = admin.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}{sep}{query}"


@contextlib.contextmanager
def fresh_database(admin: str) -> Iterator[str]:
    name = f"stigmem_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield _database_url(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def nodes(workdir: Path, count: int, url: str | None) -> Iterator[list[ServerProcess]]:
    env = {"STIGMEM_DATABASE_URL": url} if url else {}
    started: list[ServerProcess] = []
    try:
        for i in range(count):
            server = node_server(f"node{i}", workdir, workdir / "sqlite.db", extra_env=env)
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()


def preload(port: int, facts: int) -> list[str]:
    """``facts`` facts through the batch route; the entities to query."""
    entities = []
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    with httpx.Client(base_url=f"http://{HOST}:{port}", headers=headers, timeout=120) as http:
        for start in range(0, facts, 500):
            batch = [fact_body("load", n) for n in range(start, min(start + 500, facts))]
            got = http.post("/v1/facts/batch", json={"facts": batch})
            if got.status_code != 200 or got.json()["rejected"]:
                raise RuntimeError(f"preload failed: {got.text[:300]}")
            entities += [b["entity"] for b in batch[::50]]
    return entities


def one_round(
    pool: ProcessPoolExecutor, ports: list[int], plan: RequestPlan, clients: int, seconds: float
) -> RoundStats:
    """``clients`` connections split over the ports (and the workers), all starting at once."""
    start_at = time.time() + 0.2
    specs = []
    per_worker = [clients // WORKERS + (1 if i < clients % WORKERS else 0) for i in range(WORKERS)]
    for i, connections in enumerate(per_worker):
        specs.append(
            WorkerSpec(
                host=HOST, port=ports[i % len(ports)], plan=plan, connections=connections,
                start_at=start_at, duration_s=seconds, max_requests=10**9, timeout_s=10.0,
                stream=f"r{uuid.uuid4().hex[:8]}w{i}",
            )
        )  # fmt: skip
    results = list(pool.map(run_worker, specs))
    latencies = [x for r in results for x in r.latencies]
    return RoundStats.from_latencies(
        latencies,
        errors=sum(r.errors for r in results),
        elapsed_s=max(r.finished for r in results) - min(r.started for r in results),
        gen_cpu_s=sum(r.cpu_s for r in results),
        error_samples=[s for r in results for s in r.error_samples][:3],
    )


def measure(
    pool: ProcessPoolExecutor, ports: list[int], args: argparse.Namespace
) -> dict[str, Any]:
    entities = preload(ports[0], args.facts)
    queries = [{"entity": e} for e in entities]
    scenarios = [
        ("single_c32", RequestPlan("assert", 201, token=BENCH_KEY), 32, 1),
        (
            "batch500_c4",
            RequestPlan("batch", 200, {"size": 500}, token=BENCH_KEY, expect_body=b'"rejected":0'),
            4,
            500,
        ),
        ("query_c8", RequestPlan("query", 200, {"queries": queries}, token=BENCH_KEY), 8, 1),
    ]
    out: dict[str, Any] = {}
    for name, plan, clients, facts_per_request in scenarios:
        one_round(pool, ports, plan, clients, 1.0)  # warm-up
        rounds = [one_round(pool, ports, plan, clients, args.seconds) for _ in range(args.rounds)]
        rps = statistics.median(r.rps for r in rounds)
        out[name] = {
            "rps": round(rps, 1),
            "facts_s": round(rps * facts_per_request, 1),
            "p50_ms": round(statistics.median(r.p50_ms for r in rounds), 2),
            "p99_ms": round(statistics.median(r.p99_ms for r in rounds), 2),
            "errors": sum(r.errors for r in rounds),
            "gen_cpu": round(statistics.median(r.gen_cpu for r in rounds), 2),
        }
        print(f"  {name:<12} {orjson.dumps(out[name]).decode()}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--admin-url", required=True, help="a PostgreSQL URL allowed to CREATE DATABASE"
    )
    parser.add_argument("--facts", type=int, default=20_000, help="facts stored before measuring")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    summary: dict[str, Any] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=ctx) as pool:
        list(pool.map(warm_up, [0.2] * WORKERS))
        for label, engine, count in (
            ("sqlite_1_process", "sqlite", 1),
            ("postgres_1_process", "postgres", 1),
            ("postgres_2_processes", "postgres", 2),
        ):
            print(f"-- {label}", flush=True)
            with tempfile.TemporaryDirectory(prefix="stigmem-pgbench-") as work:
                database = (
                    fresh_database(args.admin_url)
                    if engine == "postgres"
                    else contextlib.nullcontext(None)
                )
                with database as url, nodes(Path(work), count, url) as servers:
                    summary[label] = measure(pool, [s.port for s in servers], args)
    print(orjson.dumps(summary).decode())


if __name__ == "__main__":
    main()
