"""Figures of one round and the median over rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(slots=True)
class RoundStats:
    """One round: throughput, latency percentiles (ms) and errors."""

    ok: int
    errors: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    gen_cpu: float  # cores the load generator itself used (sum over its processes)
    error_samples: list[str] = field(default_factory=list)
    server_cpu: float = 0.0  # cores the server process used during the round (all threads)
    cpu_us: float = 0.0  # server CPU per successful request (µs): robust to a busy machine
    # PostgreSQL on this machine: cores, and µs per request, of the backends serving the node
    db_cpu: float | None = None
    db_cpu_us: float | None = None
    ok_per_proc: list[int] | None = None  # successful requests per server process (N > 1)

    @classmethod
    def from_latencies(
        cls,
        latencies: Iterable[float],
        *,
        errors: int,
        elapsed_s: float,
        gen_cpu_s: float,
        error_samples: list[str],
    ) -> RoundStats:
        values = sorted(latencies)
        elapsed = max(elapsed_s, 1e-9)
        return cls(
            ok=len(values),
            errors=errors,
            elapsed_s=elapsed_s,
            rps=len(values) / elapsed,
            p50_ms=percentile(values, 50) * 1000,
            p95_ms=percentile(values, 95) * 1000,
            p99_ms=percentile(values, 99) * 1000,
            max_ms=(values[-1] * 1000) if values else 0.0,
            gen_cpu=gen_cpu_s / elapsed,
            error_samples=error_samples,
        )


@dataclass(slots=True)
class Figure:
    """The median of several rounds of one measurement (what the report shows)."""

    rounds: int
    ok: int  # summed over rounds
    errors: int  # summed over rounds
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    gen_cpu: float
    server_cpu: float
    cpu_us: float
    rps_spread: float  # (max - min) / median of the per-round rps: how noisy the rounds were
    error_samples: list[str] = field(default_factory=list)
    db_cpu: float | None = None  # PostgreSQL backends (same machine only): cores
    db_cpu_us: float | None = None  # … and CPU µs per request
    ok_per_proc: list[int] | None = None  # summed over rounds, per server process

    @classmethod
    def median_of(cls, rounds: Sequence[RoundStats]) -> Figure:
        if not rounds:
            raise ValueError("a figure needs at least one round")
        rps = [r.rps for r in rounds]
        mid = statistics.median(rps)
        samples = [s for r in rounds for s in r.error_samples][:5]
        return cls(
            rounds=len(rounds),
            ok=sum(r.ok for r in rounds),
            errors=sum(r.errors for r in rounds),
            rps=mid,
            p50_ms=statistics.median(r.p50_ms for r in rounds),
            p95_ms=statistics.median(r.p95_ms for r in rounds),
            p99_ms=statistics.median(r.p99_ms for r in rounds),
            max_ms=max(r.max_ms for r in rounds),
            gen_cpu=statistics.median(r.gen_cpu for r in rounds),
            server_cpu=statistics.median(r.server_cpu for r in rounds),
            cpu_us=statistics.median(r.cpu_us for r in rounds),
            rps_spread=(max(rps) - min(rps)) / mid if mid else 0.0,
            error_samples=samples,
            db_cpu=_median_of_known(r.db_cpu for r in rounds),
            db_cpu_us=_median_of_known(r.db_cpu_us for r in rounds),
            ok_per_proc=_sum_per_proc([r.ok_per_proc for r in rounds]),
        )

    def as_json(self, digits: int = 3) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, digits)
        for key in ("error_samples", "db_cpu", "db_cpu_us", "ok_per_proc"):
            if out[key] is None or out[key] == []:
                del out[key]
        return out


def _median_of_known(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _sum_per_proc(per_round: list[list[int] | None]) -> list[int] | None:
    known = [counts for counts in per_round if counts is not None]
    if not known:
        return None
    return [sum(column) for column in zip(*known, strict=True)]
