"""Runs the selected scenarios under the profile's time budget and writes the summary."""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
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

SCENARIOS = ("single", "batch", "reads", "auth", "replication")
RESULTS_DIR = ROOT / "bench" / "results"


def _steps(profile: Profile, only: set[str]) -> list[tuple[str, Callable[[Context], None]]]:
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
    return steps


def run(
    profile: Profile,
    *,
    only: set[str],
    procs: int,
    results_dir: Path | None,
    keep: bool = False,
    node_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the scenarios; return (and print, and save) the summary."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix="stigmem-bench-"))
    load_before = load_average()
    failures: list[str] = []
    started = time.monotonic()
    print(f"stigmem bench: mode {profile.name}, work dir {workdir}, load {load_before}")
    try:
        with LoadGenerator(procs) as gen:
            ctx = Context(profile, gen, workdir, node_env=dict(node_env or {}))
            for name, step in _steps(profile, only):
                if ctx.over_budget():
                    ctx.skipped.append(name)
                    ctx.log(f"-- {name}: skipped (time budget of {profile.budget_s:.0f}s spent)")
                    continue
                ctx.log(f"-- {name}")
                try:
                    step(ctx)
                except Exception as exc:
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    traceback.print_exc()
    finally:
        if keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    targets = judge(ctx.headline)
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
            "node_env": ctx.node_env,
        },
        "errors": sum(int(r.get("errors", 0)) for r in ctx.results),
        "failures": failures,
        "skipped": ctx.skipped,
        "headline": ctx.headline,
        "targets": targets,
        "results": ctx.results,
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
