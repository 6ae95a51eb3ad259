"""The soak's verdict, from every node's ``stigmem export`` and the runner's ledger."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from ledger import Lag, Ledger

SOAK_SOURCES = "stigmem://soak/agent/"


@dataclass(slots=True)
class NodeView:
    """What one node holds of the soak, read from its export."""

    name: str
    facts: dict[str, str] = field(default_factory=dict)  # id -> cid (soak facts only)
    cids: collections.Counter[str] = field(default_factory=collections.Counter)
    retracted: set[str] = field(default_factory=set)
    conflicts: set[frozenset[str]] = field(default_factory=set)


def parse_export(name: str, data: bytes) -> NodeView:
    view = NodeView(name)
    for line in data.splitlines():
        obj = orjson.loads(line)
        if obj.get("type") != "row":
            continue
        row = obj["row"]
        if obj["table"] == "facts" and str(row["source"]).startswith(SOAK_SOURCES):
            view.facts[row["id"]] = row["cid"]
            view.cids[row["cid"]] += 1
        elif obj["table"] == "fact_retractions":
            view.retracted.add(row["fact_id"])
        elif obj["table"] == "conflicts":
            view.conflicts.add(frozenset((row["fact_a_id"], row["fact_b_id"])))
    return view


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (None for no samples)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def lag_stats(lags: list[Lag]) -> dict[str, Any]:
    seconds = [lag.seconds for lag in lags]
    return {
        "samples": len(seconds),
        "p50_s": _round(percentile(seconds, 50)),
        "p99_s": _round(percentile(seconds, 99)),
        "max_s": _round(max(seconds) if seconds else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def verify(ledger: Ledger, views: list[NodeView]) -> dict[str, Any]:
    """Lost, duplicated and altered facts, retractions and conflicts not applied, per node."""
    out: dict[str, Any] = {"per_node": {}}
    totals = collections.Counter[str]()
    for view in views:
        node = {
            "facts": len(view.facts),
            "lost": sum(1 for fid in ledger.written if fid not in view.facts),
            "altered": sum(
                1
                for fid, w in ledger.written.items()
                if fid in view.facts and view.facts[fid] != w.cid
            ),
            "duplicates": sum(n - 1 for n in view.cids.values() if n > 1),
            "unacknowledged": sum(1 for fid in view.facts if fid not in ledger.written),
            "retractions_missing": sum(
                1 for fid, by in ledger.retracted.items() if by and fid not in view.retracted
            ),
            "conflicts_missing": sum(
                1 for pair in ledger.contested if frozenset(pair) not in view.conflicts
            ),
        }
        out["per_node"][view.name] = node
        totals.update({k: v for k, v in node.items() if k != "facts"})
    out.update(totals)
    out["lost_samples"] = sorted(
        {fid for view in views for fid in ledger.written if fid not in view.facts}
    )[:20]
    return out


def build(config: dict[str, Any], ledger: Ledger, views: list[NodeView],
          exits: dict[str, int], log_tracebacks: dict[str, int]) -> dict[str, Any]:  # fmt: skip
    kinds = collections.Counter(w.kind for w in ledger.written.values())
    steady = [g for g in ledger.lags if not ledger.faulted(g.acked_at, g.seen_at)]
    verdict = verify(ledger, views)
    errors = ledger.errors + sum(1 for c in exits.values() if c != 0) + sum(log_tracebacks.values())
    report = {
        "config": config,
        "acknowledged": dict(kinds),
        "retractions": len([b for b in ledger.retracted.values() if b]),
        "conflicts": {
            "expected": len(ledger.contested),
            "surfaced_everywhere": len(ledger.contested)
            - len({p for p in ledger.contested for v in views if frozenset(p) not in v.conflicts}),
        },
        "replication_lag": {**lag_stats(ledger.lags), "steady": lag_stats(steady)},
        "probes_not_seen": ledger.probes_lost,
        "facts_lost": verdict["lost"],
        "duplicates": verdict["duplicates"],
        "verification": verdict,
        "faults": [
            {
                "kind": f.kind,
                "node": f.node,
                "at_s": round(f.started_at - ledger.started_at, 1),
                "for_s": round((f.ended_at or f.started_at) - f.started_at, 1),
            }
            for f in ledger.faults
        ],
        "requests": ledger.requests,
        "interrupted_by_faults": ledger.interrupted,
        "errors": errors,
        "error_samples": ledger.error_samples,
        "node_exit_status": exits,
        "node_log_tracebacks": log_tracebacks,
    }
    report["passed"] = passed(report)
    return report


def checks(report: dict[str, Any]) -> dict[str, bool]:
    """The soak's pass/fail checks, by name."""
    verdict = report["verification"]
    return {
        "no fact lost": report["facts_lost"] == 0,
        "no duplicate": report["duplicates"] == 0,
        "no fact altered": verdict["altered"] == 0,
        "every retraction applied everywhere": verdict["retractions_missing"] == 0,
        "every conflict surfaced everywhere": verdict["conflicts_missing"] == 0,
        "no error": report["errors"] == 0,
        "replication lag measured": report["replication_lag"]["samples"] > 0,
    }


def passed(report: dict[str, Any]) -> bool:
    return all(checks(report).values())


def render(report: dict[str, Any]) -> str:
    lag, steady = report["replication_lag"], report["replication_lag"]["steady"]
    verdict = report["verification"]
    lines = [
        f"soak {'PASSED' if report['passed'] else 'FAILED'}: {report['config']['nodes']} nodes,"
        f" {report['config']['minutes']} min of load",
        f"  acknowledged writes   {report['acknowledged']}",
        f"  replication lag       p50 {lag['p50_s']}s  p99 {lag['p99_s']}s  max {lag['max_s']}s"
        f"  ({lag['samples']} samples; without faults: p50 {steady['p50_s']}s"
        f" p99 {steady['p99_s']}s)",
        f"  facts lost            {report['facts_lost']}",
        f"  duplicates            {report['duplicates']}",
        f"  altered               {verdict['altered']}",
        f"  retractions applied   {report['retractions'] - verdict['retractions_missing']}"
        f" of {report['retractions']} everywhere",
        f"  conflicts surfaced    {report['conflicts']['surfaced_everywhere']}"
        f" of {report['conflicts']['expected']} on every node",
        "  faults                "
        + ", ".join(
            f"{f['kind']} {f['node']} at {f['at_s']}s for {f['for_s']}s" for f in report["faults"]
        ),
        f"  requests              {report['requests']}"
        f" ({report['interrupted_by_faults']} cut by injected faults)",
        f"  errors                {report['errors']}",
    ]
    lines.extend(f"    {sample}" for sample in report["error_samples"][:10])
    results = checks(report)
    lines.extend(f"  [{'ok' if ok else 'FAILED'}] {name}" for name, ok in results.items())
    failed = sum(1 for ok in results.values() if not ok)
    lines.append(f"soak: {len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)
