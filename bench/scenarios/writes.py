"""Write scenarios: single assert against the bare-FastAPI ceiling, batch assert against
the bare ``executemany`` ceiling. Rounds of node and ceiling alternate.

With N node processes the ceiling app runs N processes too, and batches are sent by at
least N clients (one per process); the ``executemany`` ceiling keeps one connection, since
every write of every process takes the same lock."""

from __future__ import annotations

import statistics

from bench.context import Context, Target
from bench.dataset import ExecutemanyCeiling
from bench.plans import RequestPlan
from bench.servers import BENCH_KEY
from bench.stats import Figure


def single_assert(ctx: Context) -> None:
    """``POST /v1/facts`` (distinct facts) at each client count vs the bare FastAPI app."""
    with (
        ctx.store("single") as store,
        ctx.ceiling() as ceiling,
        ctx.nodes("node-single", store) as node,
    ):
        for clients in ctx.profile.assert_clients:
            on_node = Target(
                f"single_assert/node/c{clients}",
                node,
                RequestPlan("assert", 201, token=BENCH_KEY),
                clients,
            )
            on_ceiling = Target(
                f"single_assert/ceiling/c{clients}", ceiling, RequestPlan("assert", 201), clients
            )
            node_fig, ceiling_fig = ctx.measure(on_node, on_ceiling)
            ratio = _ratio(node_fig.rps, ceiling_fig.rps)
            cpu_ratio = _ratio(ceiling_fig.cpu_us, node_fig.cpu_us)
            ctx.note(f"single_assert/ratio/c{clients}", ratio=ratio, cpu_ratio=cpu_ratio)
            ctx.headline[f"single_assert_c{clients}_rps"] = round(node_fig.rps, 1)
            ctx.headline[f"single_assert_c{clients}_ratio"] = ratio
        ctx.note("single_assert/node/rss_mb", **node.memory())


def batch_assert(ctx: Context) -> None:
    """``POST /v1/facts/batch`` of N facts vs ``executemany`` of the same rows (facts/s)."""
    profile = ctx.profile
    clients = max(profile.batch_clients, ctx.config.node_procs)
    with ctx.store("executemany") as ceiling_store, ctx.store("batch") as store:
        ceiling = ExecutemanyCeiling(ceiling_store)
        try:
            with ctx.nodes("node-batch", store) as node:
                for size in profile.batch_sizes:
                    plan = RequestPlan(
                        "batch", 200, {"size": size}, token=BENCH_KEY, expect_body=b'"rejected":0'
                    )
                    target = Target(
                        f"batch_assert/node/b{size}", node, plan, clients, facts_per_request=size
                    )
                    _batch_size(ctx, target, ceiling, size)
        finally:
            ceiling.close()


def _batch_size(ctx: Context, target: Target, ceiling: ExecutemanyCeiling, size: int) -> None:
    profile = ctx.profile
    requests = max(1, profile.max_requests // size)
    ctx.warm(target)
    ceiling.round(size, profile.warmup_s, profile.max_requests)
    node_rounds, ceiling_rates, ceiling_cpu, ceiling_db_cpu = [], [], [], []
    for _ in range(profile.rounds):
        node_rounds.append(ctx.round_of(target, profile.round_s, requests))
        done = ceiling.round(size, profile.round_s, profile.max_requests)
        ceiling_rates.append(done.facts / done.seconds if done.seconds else 0.0)
        ceiling_cpu.append(done.cpu_s / max(done.facts, 1) * 1e6)
        if done.db_cpu_s is not None:
            ceiling_db_cpu.append(done.db_cpu_s / max(done.facts, 1) * 1e6)
    figure = Figure.median_of(node_rounds)
    node_facts_s = figure.rps * size
    ceiling_facts_s = statistics.median(ceiling_rates)
    ctx.record(target.label, figure, clients=target.clients, facts_s=round(node_facts_s, 1))
    ceiling_cpu_us = statistics.median(ceiling_cpu)
    db: dict[str, float] = {}
    if ceiling_db_cpu:
        db["db_cpu_us_per_fact"] = round(statistics.median(ceiling_db_cpu), 1)
    ctx.note(
        f"batch_assert/executemany/b{size}",
        facts_s=round(ceiling_facts_s, 1),
        cpu_us_per_fact=round(ceiling_cpu_us, 1),
        **db,
        rounds=len(ceiling_rates),
    )
    ratio = _ratio(node_facts_s, ceiling_facts_s)
    node_cpu_us = figure.cpu_us / size
    node_db: dict[str, float] = {}
    if figure.db_cpu_us is not None:
        node_db["db_cpu_us_per_fact"] = round(figure.db_cpu_us / size, 1)
        if ceiling_db_cpu:  # node + its database vs executemany + its database
            node_db["cpu_ratio_with_db"] = _ratio(
                ceiling_cpu_us + db["db_cpu_us_per_fact"],
                node_cpu_us + node_db["db_cpu_us_per_fact"],
            )
    ctx.note(
        f"batch_assert/ratio/b{size}",
        ratio=ratio,
        cpu_us_per_fact=round(node_cpu_us, 1),
        cpu_ratio=_ratio(ceiling_cpu_us, node_cpu_us),
        **node_db,
    )
    ctx.headline[f"batch_b{size}_facts_s"] = round(node_facts_s, 1)
    ctx.headline[f"batch_b{size}_ratio"] = ratio


def _ratio(value: float, ceiling: float) -> float:
    return round(value / ceiling, 3) if ceiling else 0.0
