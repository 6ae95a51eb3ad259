"""Runs the selected scenarios in every configuration (engine × node processes), each under
the profile's time budget, and writes the summary."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from bench.context import Context
from bench.loadgen import LoadGenerator
from bench.profiles import Profile
from bench.report import judge, load_average, machine_info, print_targets
from bench.scenarios.auth import auth_overhead
from bench.scenarios.reads import reads
from bench.scenarios.replication import replication
from bench.scenarios.writes import batch_assert, single_assert
from bench.servers import ROOT
from bench.storage import Backend, Config, PostgresBackend, SqliteBackend, StorageUnavailable

SCENARIOS = ("single", "batch", "reads", "auth", "replication")
RESULTS_DIR = ROOT / "bench" / "results"
# Scenarios that run in some configurations only (bench/scenarios/replication.py starts its
# own pair of SQLite nodes): where else they are not measured.
ONLY_IN = {"replication": Config("sqlite", 1)}


def _steps(
    profile: Profile, only: set[str], config: Config
) -> tuple[list[tuple[str, Callable[[Context], None]]], list[str]]:
    """The steps to run in ``config``, and the chosen scenarios that do not apply to it."""
    steps: list[tuple[str, Callable[[Context], None]]] = []
    if "single" in only:
        steps.append(("single", single_assert))
    if "batch" in only:
        steps.append(("batch", batch_assert))
    if "auth" in only:
        steps.append(("auth", auth_overhead))
    if "reads" in only:
        steps += [(f"reads@{size}", partial(reads, size=size)) for size in profile.sizes]
    if "replication" in only:
        steps.append(("replication", replication))
    applicable = [(n, s) for n, s in steps if ONLY_IN.get(n, config) == config]
    not_applicable = [n for n, _ in steps if ONLY_IN.get(n, config) != config]
    return applicable, not_applicable


def configurations(engines: Sequence[str], node_procs: Sequence[int]) -> list[Config]:
    return [Config(engine, n) for engine in engines for n in node_procs]  # type: ignore[arg-type]


@contextlib.contextmanager
def _backends(
    engines: Sequence[str], database_url: str | None, workdir: Path
) -> Iterator[dict[str, Backend]]:
    backends: dict[str, Backend] = {}
    try:
        for engine in engines:
            if engine == "postgres":
                if not database_url:
                    raise StorageUnavailable("PostgreSQL needs --database-url")
                backends[engine] = PostgresBackend(database_url, workdir)
            else:
                backends[engine] = SqliteBackend(workdir)
        yield backends
    finally:
        for backend in backends.values():
            if isinstance(backend, PostgresBackend):
                left = backend.leftovers()
                if left:
                    print(f"warning: databases left on the server: {', '.join(left)}")
                backend.close()


def run(
    profile: Profile,
    *,
    only: set[str],
    procs: int,
    results_dir: Path | None,
    keep: bool = False,
    node_env: dict[str, str] | None = None,
    engines: Sequence[str] = ("sqlite",),
    node_procs: Sequence[int] = (1,),
    database_url: str | None = None,
) -> dict[str, Any]:
    """Run the scenarios in every configuration; return (and print, and save) the summary."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix="stigmem-bench-"))
    load_before = load_average()
    failures: list[str] = []
    skipped: list[str] = []
    not_measured: list[str] = []
    results: list[dict[str, Any]] = []
    headline: dict[str, dict[str, Any]] = {}
    described: list[dict[str, Any]] = []
    storage: dict[str, Any] = {}
    started = time.monotonic()
    configs = configurations(engines, node_procs)
    env = dict(node_env or {})
    print(
        f"stigmem bench: mode {profile.name}, configurations"
        f" {', '.join(c.label for c in configs)}, work dir {workdir}, load {load_before}"
    )
    try:
        with _backends(engines, database_url, workdir) as backends, LoadGenerator(procs) as gen:
            for engine, backend in backends.items():
                storage[engine] = backend.describe()
                _warn_durability(backend)
            for config in configs:
                cdir = workdir / config.label
                cdir.mkdir()
                backend = backends[config.engine]
                if isinstance(backend, SqliteBackend):
                    backend = SqliteBackend(cdir)
                else:
                    backend.workdir = cdir
                ctx = Context(profile, gen, cdir, config, backend, node_env=env)
                steps, other = _steps(profile, only, config)
                for name in other:
                    not_measured.append(f"{config.label}/{name}")
                    ctx.log(f"-- {config.label}/{name}: not measured in this configuration")
                for name, step in steps:
                    full = f"{config.label}/{name}"
                    if ctx.over_budget():
                        ctx.skipped.append(full)
                        ctx.log(
                            f"-- {full}: skipped (time budget of {profile.budget_s:.0f}s spent)"
                        )
                        continue
                    ctx.log(f"-- {full}")
                    try:
                        step(ctx)
                    except Exception as exc:
                        failures.append(f"{full}: {type(exc).__name__}: {exc}")
                        traceback.print_exc()
                results += ctx.results
                skipped += ctx.skipped
                headline[config.label] = ctx.headline
                described.append(
                    {"label": config.label, "engine": config.engine,
                     "node_procs": config.node_procs}
                )  # fmt: skip
    finally:
        if keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    targets = [{"config": label, **target} for label, h in headline.items() for target in judge(h)]
    summary = {
        "bench": "stigmem-node",
        "mode": profile.name,
        "started_at": stamp,
        "elapsed_s": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "load_average": {"before": load_before, "after": load_average()},
        "profile": {
            "rounds": profile.rounds,
            "round_s": profile.round_s,
            "procs": procs,
            "sizes": list(profile.sizes),
            "node_env": env,
        },
        "configs": described,
        "storage": storage,
        "errors": sum(int(r.get("errors", 0)) for r in results),
        "failures": failures,
        "skipped": skipped,
        "not_measured": not_measured,
        "headline": headline,
        "targets": targets,
        "results": results,
    }
    print_targets(targets)
    line = orjson.dumps(summary).decode()
    out_dir = results_dir or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stamp}-{profile.name}.json"
    path.write_text(line + "\n")
    print(f"\nsummary written to {path}")
    print(line)
    return summary


def _warn_durability(backend: Backend) -> None:
    if isinstance(backend, PostgresBackend) and not backend.durable():
        print(
            "warning: this PostgreSQL server runs without fsync or synchronous_commit: its"
            " write figures are not comparable with SQLite's synchronous=FULL"
        )
