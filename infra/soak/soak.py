"""The soak runner (``infra/soak/run``): N nodes on loopback, mixed load, faults, a verdict.

Nodes are local ``stigmem-node`` processes, each behind a fault proxy through which its peers
reach it. They are federated as a full mesh with the operator's commands (``wire.py``). For
``--minutes`` the runner drives asserts, queries, retractions, conflicting writes and lag
probes (``load.py``) while it kills and restarts one node, partitions another (its peers lose
access to it) and slows a third. Then every fault is healed, the runner waits until every
node holds every acknowledged fact (bounded), stops the nodes gracefully, exports each one
with ``stigmem export`` and checks: facts lost 0, duplicates 0, no fact altered, every
retraction applied and every conflict surfaced on every node, no error (``report.py``).
Exit status 0 only when all of that holds. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import string
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import Fault, Ledger
from load import Load, Rates, Target
from procnet import socket_owner
from proxy import FaultProxy
from wire import WiringError, run_wiring

import report
from cluster import LocalNode, NodeError, cli_runner, free_port

SOAK_ENV = {
    "STIGMEM_FEDERATION_PULL_INTERVAL_S": "1",
    "STIGMEM_FEDERATION_PUSH_ENABLED": "true",
    "STIGMEM_FEDERATION_BACKOFF_BASE_S": "0.5",
    "STIGMEM_FEDERATION_BACKOFF_MAX_S": "5",
    "STIGMEM_FEDERATION_REQUEST_TIMEOUT_S": "10",
}


def say(text: str) -> None:
    print(f"[soak] {text}", flush=True)


@dataclass(slots=True)
class Member:
    node: LocalNode
    proxy: FaultProxy
    target: Target


class Soak:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.duration = args.minutes * 60.0
        self.ledger = Ledger()
        self.members: list[Member] = []

    # -- set-up ----------------------------------------------------------------------------
    async def start_cluster(self) -> None:
        for letter in string.ascii_lowercase[: self.args.nodes]:
            node = LocalNode(f"node-{letter}", self.root, env=SOAK_ENV, public_port=free_port())
            proxy = FaultProxy(node.public_port, node.port, self.owner_of)
            await proxy.start()
            self.members.append(Member(node, proxy, Target(node.name, node.url, node.admin_key)))
        await asyncio.gather(*(asyncio.to_thread(m.node.start) for m in self.members))
        say(f"{len(self.members)} nodes up; wiring the full mesh with the stigmem CLI")
        nodes = [m.node for m in self.members]
        await asyncio.to_thread(
            run_wiring, [n.wire_node() for n in nodes], cli_runner(nodes), log=lambda s: None
        )
        say("mesh federated: every ordered pair active")

    def owner_of(self, source_port: int, proxy_port: int) -> int | None:
        """The pid of the node (if any) that opened a connection to one of our proxies."""
        pids = [m.node.proc.pid for m in self.members if m.node.running and m.node.proc]
        return socket_owner(source_port, proxy_port, pids)

    # -- faults ----------------------------------------------------------------------------
    async def at(self, fraction: float) -> None:
        delay = self.ledger.started_at + fraction * self.duration - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def victim(self, index: int) -> Member:
        return self.members[1 + index % (len(self.members) - 1)]

    async def faults(self) -> None:
        await self.at(0.15)
        await self.kill_restart(self.victim(0), max(3.0, 0.08 * self.duration))
        await self.at(0.40)
        await self.partition(self.victim(1), max(5.0, 0.15 * self.duration))
        await self.at(0.65)
        await self.slow_peer(self.victim(2), max(5.0, 0.15 * self.duration))
        await self.at(1.0)

    async def kill_restart(self, member: Member, down_s: float) -> None:
        fault = Fault("kill-restart", member.node.name, time.monotonic())
        self.ledger.faults.append(fault)
        member.target.up = False
        member.target.generation += 1
        await asyncio.to_thread(member.node.kill)
        say(f"killed {member.node.name} (SIGKILL); restarting in {down_s:.0f}s")
        await asyncio.sleep(down_s)
        await asyncio.to_thread(member.node.start)
        await member.target.renew()
        member.target.up = True
        fault.ended_at = time.monotonic()
        say(f"{member.node.name} restarted on its database")

    async def partition(self, member: Member, seconds: float) -> None:
        """Cut the node off its peers both ways (its clients still reach it)."""
        fault = Fault("partition", member.node.name, time.monotonic())
        self.ledger.faults.append(fault)
        assert member.node.proc is not None
        pid = member.node.proc.pid
        member.proxy.set_mode("down")
        others = [m for m in self.members if m is not member]
        for other in others:
            other.proxy.block(pid)
        say(f"partition: {member.node.name} cut off its peers for {seconds:.0f}s")
        await asyncio.sleep(seconds)
        member.proxy.set_mode("up")
        for other in others:
            other.proxy.unblock(pid)
        fault.ended_at = time.monotonic()
        refused = sum(o.proxy.refused for o in others)
        say(f"partition of {member.node.name} healed ({refused} of its connections refused)")

    async def slow_peer(self, member: Member, seconds: float) -> None:
        fault = Fault("slow-peer", member.node.name, time.monotonic())
        self.ledger.faults.append(fault)
        member.proxy.set_mode("slow")
        say(f"slow peer: {member.node.name} answers its peers {member.proxy.delay_s}s late"
            f" per chunk for {seconds:.0f}s")  # fmt: skip
        await asyncio.sleep(seconds)
        member.proxy.set_mode("up")
        fault.ended_at = time.monotonic()
        say(f"slow peer {member.node.name} back to normal")

    # -- the run ---------------------------------------------------------------------------
    async def drive(self) -> None:
        rates = Rates(self.args.writes_per_s, self.args.reads_per_s)
        rates.cross_retractions = self.args.cross_retractions
        load = Load([m.target for m in self.members], self.ledger, rates, self.args.seed)
        self.ledger.started_at = time.monotonic()
        say(f"load for {self.args.minutes} min")
        load_task = asyncio.create_task(load.run_all())
        progress = asyncio.create_task(self.progress())
        try:
            await self.faults()
        finally:
            load.stop.set()
            await load_task
            progress.cancel()
        await self.converge(load)

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(15)
            lags = report.lag_stats(self.ledger.lags)
            say(f"t+{time.monotonic() - self.ledger.started_at:.0f}s:"
                f" {len(self.ledger.written)} facts acknowledged, lag p50 {lags['p50_s']}s,"
                f" {self.ledger.errors} errors")  # fmt: skip

    async def converge(self, load: Load) -> None:
        """Wait until every node holds every acknowledged fact (bounded by --converge-s)."""
        expected = set(self.ledger.written)
        deadline = time.monotonic() + self.args.converge_s
        missing = len(expected) * len(self.members)
        while time.monotonic() < deadline:
            held = await asyncio.to_thread(self.holdings)
            missing = sum(len(expected - ids) for ids in held)
            if missing == 0:
                break
            await asyncio.sleep(1.0)
        for task in list(load.pollers):
            task.cancel()
        await asyncio.gather(*load.pollers, return_exceptions=True)
        waited = self.args.converge_s - max(0.0, deadline - time.monotonic())
        if missing:
            say(f"NOT converged after {self.args.converge_s}s: {missing} copies missing")
        else:
            say(f"converged after {waited:.1f}s")

    def holdings(self) -> list[set[str]]:
        """Each node's soak fact ids, read from its database (read-only)."""
        out = []
        for member in self.members:
            uri = f"file:{member.node.db_path}?mode=ro"
            with sqlite3.connect(uri, uri=True, timeout=10) as conn:
                rows = conn.execute(
                    "SELECT id FROM facts WHERE source LIKE ?", (report.SOAK_SOURCES + "%",)
                ).fetchall()
            out.append({row[0] for row in rows})
        return out

    # -- verdict ---------------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        exits = {m.node.name: m.node.stop() for m in self.members}
        views, tracebacks = [], {}
        for member in self.members:
            done = member.node.cli(["export"])
            if done.returncode != 0:
                self.ledger.error(f"{member.node.name}: stigmem export failed: {done.stderr}")
                continue
            views.append(report.parse_export(member.node.name, done.stdout.encode()))
            log = member.node.log_path.read_text(errors="replace")
            tracebacks[member.node.name] = log.count("Traceback (most recent call last)")
        config = {"nodes": self.args.nodes, "minutes": self.args.minutes,
                  "writes_per_s": self.args.writes_per_s, "reads_per_s": self.args.reads_per_s,
                  "seed": self.args.seed,
                  "cross_retractions": self.args.cross_retractions}  # fmt: skip
        return report.build(config, self.ledger, views, exits, tracebacks)

    async def close(self) -> None:
        for member in self.members:
            member.node.kill()
            await member.proxy.close()
            await member.target.http.aclose()


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any] | None:
    soak = Soak(args, root)
    try:
        await soak.start_cluster()
        await soak.drive()
        return await asyncio.to_thread(soak.finish)
    except (NodeError, WiringError) as exc:
        say(f"aborted: {exc}")
        return None
    finally:
        await soak.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="infra/soak/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (default 10)")
    parser.add_argument("--nodes", type=int, default=4, help="cluster size, 2-8 (default 4)")
    parser.add_argument("--writes-per-s", type=float, default=20.0)
    parser.add_argument("--reads-per-s", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--converge-s", type=float, default=120.0,
                        help="how long to wait for every node to hold every fact")  # fmt: skip
    parser.add_argument("--cross-retractions", action="store_true",
                        help="half the retractions by a node other than the writer")  # fmt: skip
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--keep", action="store_true", help="keep the data and logs")
    args = parser.parse_args(argv)
    if not 2 <= args.nodes <= 8:
        parser.error("--nodes must be between 2 and 8")
    if not 0 < args.minutes <= 24 * 60:
        parser.error("--minutes must be above 0 and at most a day")
    if args.writes_per_s <= 0 or args.reads_per_s <= 0:
        parser.error("rates must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="stigmem-soak-"))
    say(f"work directory {root}")
    result = asyncio.run(run(args, root))
    ok = result is not None and result["passed"]
    if result is not None:
        text = json.dumps(result, indent=2)
        (root / "report.json").write_text(text)
        if args.report:
            args.report.write_text(text)
        print(report.render(result), flush=True)
    if ok and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        say(f"data, logs and report kept in {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
