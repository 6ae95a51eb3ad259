"""``python -m bench [--quick | --smoke] [options]``: run the benchmark suite.

The default (``make bench``) is the full run (≤ 15 min, databases of 100 000 and
1 000 000 facts); ``--quick`` (``make bench-quick``) stays under 2 minutes; ``--smoke`` only
checks that the harness works (tiny scale, one short round per scenario). These times are
for one configuration: SQLite and one node process unless ``--engines``, ``--database-url``
or ``--node-procs`` ask for more (each configuration has the same time budget). The last
line printed is the JSON summary, also saved under ``bench/results/``.

Exit status: 0 when every request succeeded and every scenario ran; 1 otherwise; 2 with
``--check-targets`` when a CONTRACT §8 target was missed, or when the options are wrong
(e.g. PostgreSQL asked for without a server that accepts ``CREATE DATABASE``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.profiles import FULL, QUICK, SMOKE, customise
from bench.runner import SCENARIOS, run
from bench.storage import ENGINES, URL_ENV, StorageUnavailable, database_url


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are comma-separated integers") from None
    if not sizes or any(s < 10 for s in sizes):
        raise argparse.ArgumentTypeError("each size must be at least 10 facts")
    return sizes


def _only(text: str) -> set[str]:
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(SCENARIOS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(SCENARIOS)}")
    return chosen


def _engines(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not chosen or set(chosen) - set(ENGINES):
        raise argparse.ArgumentTypeError(f"choose among {', '.join(ENGINES)}")
    return chosen


def _node_procs(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(dict.fromkeys(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated integers, e.g. 1,2") from None
    if not counts or any(not 1 <= n <= 8 for n in counts):
        raise argparse.ArgumentTypeError("each count must be between 1 and 8")
    return counts


def _url(text: str) -> str:
    try:
        database_url(text, "probe")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _env(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME=VALUE")
    return name.strip(), value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="under 2 minutes, 100 000 facts")
    mode.add_argument("--smoke", action="store_true", help="harness check at tiny scale")
    parser.add_argument("--only", type=_only, help=f"scenarios among {','.join(SCENARIOS)}")
    parser.add_argument("--sizes", type=_sizes, help="pre-loaded sizes, e.g. 100000,1000000")
    parser.add_argument("--rounds", type=int, choices=range(1, 21), metavar="1-20")
    parser.add_argument("--seconds", type=float, help="seconds of load per round (0.2-30)")
    parser.add_argument(
        "--procs", type=int, default=1, choices=range(1, 9), metavar="1-8",
        help="load-generator processes (default 1; see docs/performance.md)",
    )  # fmt: skip
    parser.add_argument(
        "--engines", type=_engines,
        help="sqlite, postgres or both (default: sqlite; postgres alone with --database-url)",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", type=_url, metavar="URL",
        help=f"PostgreSQL server whose role may CREATE DATABASE (default: ${URL_ENV})",
    )  # fmt: skip
    parser.add_argument(
        "--node-procs", type=_node_procs, default=(1,), metavar="N[,N...]",
        help="stigmem-node processes on one database, e.g. 1,2 (default 1)",
    )  # fmt: skip
    parser.add_argument("--results-dir", type=Path, help="where to save the JSON summary")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (DBs, logs)")
    parser.add_argument(
        "--node-env", type=_env, action="append", default=[], metavar="NAME=VALUE",
        help="extra environment for every node (experiments, e.g. STIGMEM_READ_THREADS=2)",
    )  # fmt: skip
    parser.add_argument("--check-targets", action="store_true", help="exit 2 on a missed target")
    args = parser.parse_args(argv)
    if args.seconds is not None and not 0.2 <= args.seconds <= 30:
        parser.error("--seconds must be between 0.2 and 30")
    url_given = args.database_url is not None
    if args.database_url is None:
        from_env = os.environ.get(URL_ENV, "").strip()
        args.database_url = _url(from_env) if from_env else None
    if args.engines is None:  # --database-url alone means: PostgreSQL
        args.engines = ("postgres",) if url_given else ("sqlite",)
    if "postgres" in args.engines and not args.database_url:
        parser.error(f"PostgreSQL needs --database-url URL (or {URL_ENV})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = SMOKE if args.smoke else QUICK if args.quick else FULL
    profile = customise(base, rounds=args.rounds, round_s=args.seconds, sizes=args.sizes)
    try:
        summary = run(
            profile,
            only=args.only or set(SCENARIOS),
            procs=args.procs,
            results_dir=args.results_dir,
            keep=args.keep,
            node_env=dict(args.node_env),
            engines=args.engines,
            node_procs=args.node_procs,
            database_url=args.database_url,
        )
    except StorageUnavailable as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 2
    if summary["errors"] or summary["failures"] or summary["skipped"]:
        return 1
    if args.check_targets and not all(t["pass"] for t in summary["targets"]):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
