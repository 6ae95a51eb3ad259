"""What every scenario shares: the profile, the load generator, the configuration (engine
and node processes) with its stores, the results and the clock.

One ``Context`` per configuration: its figures are named ``<label>/<measurement>``
(``sqlite/single_assert/node/c32``, ``postgres-x2/reads/100000/get_id``), its headline and
time budget are its own.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import LoadGenerator
from bench.plans import RequestPlan
from bench.profiles import Profile
from bench.servers import ServerGroup, ceiling_group, node_group
from bench.stats import Figure, RoundStats
from bench.storage import Backend, Config, SqliteBackend, Store

GEN_CPU_WARNING = 0.8  # a generator using this many cores may itself be the limit


@dataclass(frozen=True, slots=True)
class Target:
    """One load to measure: which server, which requests, how many clients."""

    label: str  # e.g. "single_assert/node/c32" (the configuration's label is added)
    server: ServerGroup
    plan: RequestPlan
    clients: int
    facts_per_request: int = 1


@dataclass(slots=True)
class Context:
    profile: Profile
    gen: LoadGenerator
    workdir: Path  # this configuration's own directory (node logs, SQLite files)
    config: Config = field(default_factory=lambda: Config("sqlite"))
    backend: Backend | None = None  # where fresh stores come from (SQLite files by default)
    started: float = field(default_factory=time.monotonic)
    results: list[dict[str, Any]] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    node_env: dict[str, str] = field(default_factory=dict)  # --node-env experiments
    _round: int = 0

    @property
    def engine(self) -> str:
        return self.config.engine

    @contextlib.contextmanager
    def store(self, name: str) -> Iterator[Store]:
        """A fresh, empty database for a scenario (a SQLite file in the work directory, or a
        PostgreSQL database of its own), deleted or dropped when the block ends."""
        backend = self.backend or SqliteBackend(self.workdir)
        with backend.fresh(name) as store:
            yield store

    def nodes(self, name: str, store: Store, *, auth: bool = True) -> ServerGroup:
        """The configuration's ``stigmem-node`` processes over ``store`` (not started: use
        the group as a context manager)."""
        return node_group(
            name, self.workdir, store, self.config.node_procs, auth=auth, extra_env=self.node_env
        )

    def ceiling(self) -> ServerGroup:
        """The bare-FastAPI ceiling with as many processes as the node has."""
        return ceiling_group(self.workdir, self.config.node_procs)

    def name(self, label: str) -> str:
        """A figure's full name: the configuration's label first."""
        return f"{self.config.label}/{label}"

    # -- time budget ---------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def over_budget(self) -> bool:
        return self.elapsed() > self.profile.budget_s

    # -- measuring -----------------------------------------------------------------------
    def round_of(self, target: Target, duration_s: float, max_requests: int) -> RoundStats:
        """One round of load on ``target`` (fresh facts: every round has its own stream)."""
        self._round += 1
        stream = f"{self.config.label}-{target.label.replace('/', '-')}-r{self._round}"
        server = target.server
        cpu_before, db_before = server.cpu_seconds(), server.db_cpu_seconds()
        stats = self.gen.run(
            server.ports,
            target.plan,
            clients=target.clients,
            duration_s=duration_s,
            max_requests=max_requests,
            stream=stream,
        )
        cpu_after, db_after = server.cpu_seconds(), server.db_cpu_seconds()
        if cpu_before is not None and cpu_after is not None and stats.elapsed_s > 0:
            stats.server_cpu = (cpu_after - cpu_before) / stats.elapsed_s
            stats.cpu_us = (cpu_after - cpu_before) / max(stats.ok, 1) * 1e6
        if db_before is not None and db_after is not None and stats.elapsed_s > 0:
            stats.db_cpu = max(db_after - db_before, 0.0) / stats.elapsed_s
            stats.db_cpu_us = max(db_after - db_before, 0.0) / max(stats.ok, 1) * 1e6
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
        row = {"name": self.name(label), **extra, **figure.as_json()}
        self.results.append(row)
        self.log(format_row(row))
        if figure.gen_cpu > GEN_CPU_WARNING:
            self.log(f"  warning: the load generator used {figure.gen_cpu:.2f} cores")

    def note(self, label: str, **values: Any) -> None:
        """A measurement that is not a load round (ceilings, ratios, memory)."""
        row = {"name": self.name(label), **values}
        self.results.append(row)
        self.log(format_row(row))

    @staticmethod
    def log(text: str) -> None:
        print(text, file=sys.stdout, flush=True)


def format_row(row: dict[str, Any]) -> str:
    if "rps" not in row:
        rest = "  ".join(f"{k} {v}" for k, v in row.items() if k != "name")
        return f"{row['name']:<46} {rest}"
    text = (
        f"{row['name']:<46} {row['rps']:>9.1f} req/s  p50 {row['p50_ms']:>7.2f}  "
        f"p95 {row['p95_ms']:>7.2f}  p99 {row['p99_ms']:>7.2f} ms  errors {row['errors']}"
    )
    if "facts_s" in row:
        text += f"  ({row['facts_s']:.0f} facts/s)"
    db = ""
    if row.get("db_cpu") is not None:
        db = f", db {row['db_cpu']:.2f} cores {row['db_cpu_us']:.0f} µs/req"
    per_proc = f", per process {row['ok_per_proc']}" if row.get("ok_per_proc") else ""
    return text + (
        f"  [spread {row['rps_spread'] * 100:.0f}%, server {row['server_cpu']:.2f} cores"
        f" {row['cpu_us']:.0f} µs/req{db}, gen {row['gen_cpu']:.2f}{per_proc}]"
    )
