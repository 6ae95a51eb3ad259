"""The run's summary: machine, every figure, the headline numbers and the targets of
CONTRACT §8 (judged on this run's figures; the machine may be noisy)."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.servers import ROOT


@dataclass(frozen=True, slots=True)
class Goal:
    key: str  # headline key; "@" keys are judged at the largest pre-loaded size
    op: str  # ">=" or "<="
    limit: float
    text: str
    at_size: int | None = None  # the database size the contract states the goal for


GOALS = (
    Goal("single_assert_c32_ratio", ">=", 0.40, "single assert, 32 clients / bare FastAPI"),
    Goal("batch_b500_ratio", ">=", 0.60, "batch of 500 / bare executemany (facts/s)"),
    Goal("query_entity_p99_ms", "<=", 10.0, "query by entity p99 (ms), 8 clients", 1_000_000),
    Goal("auth_read_p50_delta_ms", "<=", 1.0, "auth p50 overhead (ms), read"),
    Goal("auth_assert_p50_delta_ms", "<=", 1.0, "auth p50 overhead (ms), assert"),
    Goal("rss_mb", "<=", 300.0, "node RSS (MiB) after reads", 1_000_000),
    Goal("replication_s", "<=", 20.0, "federation: facts A -> B (s)", 100_000),
)


def judge(headline: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per goal whose figure this run produced."""
    out = []
    for goal in GOALS:
        key, size = goal.key, None
        if goal.at_size is not None:
            sizes = [int(k.split("@")[1]) for k in headline if k.startswith(goal.key + "@")]
            if not sizes:
                continue
            size = max(sizes)
            key = f"{goal.key}@{size}"
        if key not in headline:
            continue
        value = float(headline[key])
        passed = value >= goal.limit if goal.op == ">=" else value <= goal.limit
        entry: dict[str, Any] = {
            "goal": goal.text,
            "key": key,
            "value": value,
            "target": f"{goal.op} {goal.limit:g}",
            "pass": passed,
        }
        if size is not None and goal.at_size is not None and size < goal.at_size:
            entry["note"] = f"measured at {size} facts; the target is stated at {goal.at_size}"
        out.append(entry)
    return out


def machine_info() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "mem_gib": _mem_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": {p: _version(p) for p in ("fastapi", "uvicorn", "pydantic", "uvloop")},
        "git": _git_head(),
    }


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_head() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def print_targets(targets: list[dict[str, Any]]) -> None:
    if not targets:
        return
    print("\nTargets (CONTRACT §8), judged on this run:")
    for t in targets:
        verdict = "ok  " if t["pass"] else "MISS"
        note = f"  ({t['note']})" if "note" in t else ""
        where = f"[{t['config']}] " if "config" in t else ""
        print(
            f"  {verdict} {where + t['goal']:<58} {t['value']:>10.3f}  target {t['target']}{note}"
        )
