"""Read scenarios over a pre-loaded database: queries, get by id and by CID, and the
node's memory once it has served them."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from bench.context import Context, Target
from bench.dataset import Sample, preload
from bench.plans import RequestPlan
from bench.servers import BENCH_KEY, HOST, ServerGroup


def reads(ctx: Context, size: int) -> None:
    with ctx.store(f"reads-{size}") as store:
        started = time.monotonic()
        sample = preload(store, size, _progress(ctx, size))
        ctx.note(f"reads/{size}/load", facts=size, seconds=round(time.monotonic() - started, 1))
        with ctx.nodes(f"node-reads-{size}", store) as node:
            _check_loaded(node, sample)
            targets = _targets(ctx, node, sample, size)
            figures = ctx.measure(*targets)
            for target, figure in zip(targets, figures, strict=True):
                kind = target.label.split("/")[-1]
                ctx.headline[f"{kind}_p50_ms@{size}"] = round(figure.p50_ms, 3)
                ctx.headline[f"{kind}_p99_ms@{size}"] = round(figure.p99_ms, 3)
            ctx.note(f"reads/{size}/rss_mb", **node.memory())  # summed over the processes
            largest = node.largest_memory()  # the headline (and target) is per process
            for key, name in (("rss", "rss_mb"), ("anon", "rss_anon_mb"), ("pss", "pss_mb")):
                if key in largest:
                    ctx.headline[f"{name}@{size}"] = largest[key]


def _targets(ctx: Context, node: ServerGroup, sample: Sample, size: int) -> list[Target]:
    clients = ctx.profile.read_clients
    queries = {
        "query_entity": [{"entity": e} for e in sample.entities],
        "query_entity_relation": [{"entity": e, "relation": r} for e, r in sample.pairs],
        "query_relation": [{"relation": r} for r in sample.relations],
    }
    targets = [
        Target(
            f"reads/{size}/{kind}",
            node,
            RequestPlan("query", 200, {"queries": qs}, token=BENCH_KEY),
            clients,
        )
        for kind, qs in queries.items()
    ]
    for kind, keys in (("get_id", sample.ids), ("get_cid", sample.cids)):
        plan = RequestPlan("get", 200, {"keys": keys}, token=BENCH_KEY)
        targets.append(Target(f"reads/{size}/{kind}", node, plan, clients))
    plan = RequestPlan("recall", 200, {"bodies": recall_bodies(sample)}, token=BENCH_KEY)
    targets.append(Target(f"reads/{size}/recall", node, plan, clients))
    return targets


# Words the pre-loaded text values are made of (bench.bodies), so broad queries hit.
WORDS = ("alpha", "delta", "kilo", "oscar", "romeo", "tango", "victor", "zulu")


def recall_bodies(sample: Sample) -> list[dict[str, object]]:
    """Questions an agent asks: about one entity and one of its relations (a selective
    query), and about two of the words that fill the text values (a broad one)."""
    bodies: list[dict[str, object]] = []
    for n, (entity, relation) in enumerate(sample.pairs):
        if n % 2:
            query = f"{entity.rsplit('-', 1)[-1]} {relation.split(':')[-1].replace('_', ' ')}"
            scope = "company"  # every entity has facts in every scope
        else:
            query = f"{WORDS[n % len(WORDS)]} {WORDS[(n * 7 + 3) % len(WORDS)]}"
            scope = "team"  # where the pre-loaded text values are
        bodies.append({"query": query, "scope": scope, "token_budget": 2000})
    return bodies


def _check_loaded(node: ServerGroup, sample: Sample) -> None:
    """Every node process must see the pre-loaded rows, or every figure below would be
    meaningless."""
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    for port in node.ports:
        base = f"http://{HOST}:{port}"
        with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
            page = client.get("/v1/facts", params={"entity": sample.entities[0]})
            if page.status_code != 200 or page.json()["total"] < 1:
                raise RuntimeError(f"pre-loaded facts not visible: {page.status_code} {page.text}")
            for key in (sample.ids[0], sample.cids[0]):
                got = client.get(f"/v1/facts/{key}")
                if got.status_code != 200:
                    raise RuntimeError(f"pre-loaded fact {key} not found: {got.text}")


def _progress(ctx: Context, size: int) -> Callable[[int], None]:
    step = max(size // 4, 1)
    started = time.monotonic()

    def report(done: int) -> None:
        if done % step == 0 or done == size:
            ctx.log(f"  loading {size} facts: {done} ({time.monotonic() - started:.0f}s)")

    return report
