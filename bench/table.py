"""``python -m bench.table <summary.json>``: a saved summary as Markdown tables.

For ``docs/performance.md``: one table of load figures, one of the other measurements
(ratios, ceilings, memory, load times), then the targets as judged on that run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

LOAD_COLUMNS = (
    "clients", "rps", "p50_ms", "p95_ms", "p99_ms", "errors", "cpu_us", "db_cpu_us", "rps_spread",
)  # fmt: skip


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) < 10:
            return f"{value:.3g}"
        return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def render(summary: dict[str, Any]) -> str:
    load = [r for r in summary["results"] if "rps" in r]
    other = [r for r in summary["results"] if "rps" not in r]
    columns = [c for c in LOAD_COLUMNS if c != "db_cpu_us" or any(c in r for r in load)]
    machine = summary["machine"]
    lines = [
        f"Run `{summary['started_at']}`, mode `{summary['mode']}`, commit `{machine['git']}`,"
        f" {machine['cores']} × {machine['cpu']}; load average before/after"
        f" {summary['load_average']['before']} / {summary['load_average']['after']};"
        f" {summary['profile']['rounds']} rounds of {summary['profile']['round_s']} s"
        f" (medians){_configs(summary)}.",
        "",
        "| measurement | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in load:
        cells = [_cell(row.get(c)) for c in columns]
        if "facts_s" in row:
            cells[1] += f" ({row['facts_s']:.0f} facts/s)"
        lines.append(f"| `{row['name']}` | " + " | ".join(cells) + " |")
    lines += ["", "| measurement | values |", "|---|---|"]
    for row in other:
        values = ", ".join(f"{k} {_cell(v)}" for k, v in row.items() if k != "name")
        lines.append(f"| `{row['name']}` | {values} |")
    if summary["targets"]:
        lines += ["", "| target (CONTRACT §8) | this run | goal | verdict |", "|---|---:|---|---|"]
        for t in summary["targets"]:
            verdict = "met" if t["pass"] else "missed"
            note = f" ({t['note']})" if "note" in t else ""
            goal = f"{t['goal']} [{t['config']}]" if "config" in t else t["goal"]
            lines.append(f"| {goal} | {_cell(t['value'])} | {t['target']} | {verdict}{note} |")
    return "\n".join(lines) + "\n"


def _configs(summary: dict[str, Any]) -> str:
    """The configurations and, for PostgreSQL, the server's durability settings."""
    if "configs" not in summary:  # a summary from before engines were measured
        return ""
    labels = ", ".join(f"`{c['label']}`" for c in summary["configs"])
    text = f"; configurations {labels}"
    pg = summary.get("storage", {}).get("postgres")
    if pg:
        text += (
            f"; PostgreSQL {pg.get('server_version')} (fsync {pg.get('fsync')},"
            f" synchronous_commit {pg.get('synchronous_commit')})"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.table <summary.json>", file=sys.stderr)
        return 2
    summary = orjson.loads(Path(args[0]).read_bytes())
    sys.stdout.write(render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
