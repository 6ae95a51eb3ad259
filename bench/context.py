"""What every scenario shares: the profile, the load generator, the run's results and clock."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import LoadGenerator
from bench.plans import RequestPlan
from bench.profiles import Profile
from bench.servers import ServerProcess, node_server
from bench.stats import Figure, RoundStats

GEN_CPU_WARNING = 0.8  # a generator using this many cores may itself be the limit


@dataclass(frozen=True, slots=True)
class Target:
    """One load to measure: which server, which requests, how many clients."""

    label: str  # e.g. "single_assert/node/c32"
    server: ServerProcess
    plan: RequestPlan
    clients: int
    facts_per_request: int = 1


@dataclass(slots=True)
class Context:
    profile: Profile
    gen: LoadGenerator
    workdir: Path
    started: float = field(default_factory=time.monotonic)
    results: list[dict[str, Any]] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    node_env: dict[str, str] = field(default_factory=dict)  # --node-env experiments
    _round: int = 0

    def node(self, name: str, db_path: Path, *, auth: bool = True) -> ServerProcess:
        """A ``stigmem-node`` for a scenario (not started: use it as a context manager)."""
        return node_server(name, self.workdir, db_path, auth=auth, extra_env=self.node_env)

    # -- time budget ---------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def over_budget(self) -> bool:
        return self.elapsed() > self.profile.budget_s

    # -- measuring -----------------------------------------------------------------------
    def round_of(self, target: Target, duration_s: float, max_requests: int) -> RoundStats:
        """One round of load on ``target`` (fresh facts: every round has its own stream)."""
        self._round += 1
        stream = f"{target.label.replace('/', '-')}-r{self._round}"
        cpu_before = target.server.cpu_seconds()
        stats = self.gen.run(
            target.server.port,
            target.plan,
            clients=target.clients,
            duration_s=duration_s,
            max_requests=max_requests,
            stream=stream,
        )
        cpu_after = target.server.cpu_seconds()
        if cpu_before is not None and cpu_after is not None and stats.elapsed_s > 0:
            stats.server_cpu = (cpu_after - cpu_before) / stats.elapsed_s
            stats.cpu_us = (cpu_after - cpu_before) / max(stats.ok, 1) * 1e6
        return stats

    def warm(self, *targets: Target) -> int:
        """Unmeasured load on each target (connections, caches); returns its errors."""
        errors = 0
        if self.profile.warmup_s <= 0:
            return 0
        for target in targets:
            stats = self.round_of(target, self.profile.warmup_s, self.profile.max_requests)
            errors += stats.errors
            if stats.errors:
                self.log(f"  warm-up of {target.label}: {stats.errors} error(s)")
        return errors

    def measure(self, *targets: Target) -> list[Figure]:
        """Rounds of every target, interleaved (a, b, a, b, …) so that drift in the
        machine's load hits all of them alike; one median ``Figure`` per target."""
        self.warm(*targets)
        per_target: list[list[RoundStats]] = [[] for _ in targets]
        for _ in range(self.profile.rounds):
            for i, target in enumerate(targets):
                per_target[i].append(
                    self.round_of(target, self.profile.round_s, self.profile.max_requests)
                )
        figures = [Figure.median_of(rounds) for rounds in per_target]
        for target, figure in zip(targets, figures, strict=True):
            extra: dict[str, Any] = {"clients": target.clients}
            if target.facts_per_request > 1:
                extra["facts_s"] = round(figure.rps * target.facts_per_request, 1)
            self.record(target.label, figure, **extra)
        return figures

    # -- reporting -----------------------------------------------------------------------
    def record(self, label: str, figure: Figure, **extra: Any) -> None:
        row = {"name": label, **extra, **figure.as_json()}
        self.results.append(row)
        self.log(format_row(row))
        if figure.gen_cpu > GEN_CPU_WARNING:
            self.log(f"  warning: the load generator used {figure.gen_cpu:.2f} cores")

    def note(self, label: str, **values: Any) -> None:
        """A measurement that is not a load round (ceilings, ratios, memory)."""
        row = {"name": label, **values}
        self.results.append(row)
        self.log(format_row(row))

    @staticmethod
    def log(text: str) -> None:
        print(text, file=sys.stdout, flush=True)


def format_row(row: dict[str, Any]) -> str:
    if "rps" not in row:
        rest = "  ".join(f"{k} {v}" for k, v in row.items() if k != "name")
        return f"{row['name']:<40} {rest}"
    text = (
        f"{row['name']:<40} {row['rps']:>9.1f} req/s  p50 {row['p50_ms']:>7.2f}  "
        f"p95 {row['p95_ms']:>7.2f}  p99 {row['p99_ms']:>7.2f} ms  errors {row['errors']}"
    )
    if "facts_s" in row:
        text += f"  ({row['facts_s']:.0f} facts/s)"
    return text + (
        f"  [spread {row['rps_spread'] * 100:.0f}%, server {row['server_cpu']:.2f} cores"
        f" {row['cpu_us']:.0f} µs/req, gen {row['gen_cpu']:.2f}]"
    )
