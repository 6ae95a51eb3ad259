"""The load generator: a pool of worker processes driving one server for one round.

Clients (connections) are spread over up to ``procs`` processes so that the generator is
not the bottleneck; every round reports how many cores the generator itself used
(``gen_cpu``), which tells whether it could have been. A server of several processes is
given as several ports: connections are spread over them evenly (``worker.port_of``).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType

from bench.plans import RequestPlan
from bench.stats import RoundStats
from bench.worker import WorkerResult, WorkerSpec, run_worker, warm_up

HOST = "127.0.0.1"  # the bench only ever talks to the loopback interface
START_MARGIN_S = 0.15  # workers connect, then all start sending at the same instant


class LoadGenerator:
    """Owns the worker processes (spawned once, reused by every round)."""

    def __init__(self, procs: int, timeout_s: float = 10.0) -> None:
        if procs < 1:
            raise ValueError("procs must be >= 1")
        self.procs = procs
        self.timeout_s = timeout_s
        self._pool = ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn"))
        # Spawn every worker now (a pool spawns lazily), so round one does not pay for it.
        list(self._pool.map(warm_up, [0.2] * procs))

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def run(
        self,
        ports: int | Sequence[int],
        plan: RequestPlan,
        *,
        clients: int,
        duration_s: float,
        max_requests: int,
        stream: str,
        procs: int | None = None,
    ) -> RoundStats:
        """One round of ``clients`` concurrent connections; blocks until it is over."""
        port_list = (ports,) if isinstance(ports, int) else tuple(ports)
        if not port_list:
            raise ValueError("no port to send to")
        used = max(1, min(procs or self.procs, self.procs, clients))
        start_at = time.time() + START_MARGIN_S
        specs, first = [], 0
        for i, share in enumerate(_split(clients, used)):
            specs.append(
                WorkerSpec(
                    host=HOST,
                    ports=port_list,
                    plan=plan,
                    connections=share,
                    first_connection=first,
                    start_at=start_at,
                    duration_s=duration_s,
                    max_requests=max(1, max_requests * share // clients),
                    timeout_s=self.timeout_s,
                    stream=f"{stream}w{i}",
                )
            )
            first += share
        results = list(self._pool.map(run_worker, specs))
        stats = _merge(results)
        if len(port_list) > 1:
            stats.ok_per_proc = [sum(r.ok_per_port.get(p, 0) for r in results) for p in port_list]
        return stats


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _merge(results: list[WorkerResult]) -> RoundStats:
    started = min(r.started for r in results)
    finished = max(r.finished for r in results)
    latencies: list[float] = []
    samples: list[str] = []
    for r in results:
        latencies.extend(r.latencies)
        samples.extend(r.error_samples)
    return RoundStats.from_latencies(
        latencies,
        errors=sum(r.errors for r in results),
        elapsed_s=finished - started,
        gen_cpu_s=sum(r.cpu_s for r in results),
        error_samples=samples[:5],
    )
