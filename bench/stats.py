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
        )

    def as_json(self, digits: int = 3) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, digits)
        if not out["error_samples"]:
            del out["error_samples"]
        return out
