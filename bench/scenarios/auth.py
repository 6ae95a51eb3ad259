"""Auth overhead: the same requests against a node with auth on (valid key, cache warm) and
a node with auth off, rounds alternating; the p50 difference is what auth costs."""

from __future__ import annotations

import httpx

from bench.context import Context, Target
from bench.plans import RequestPlan
from bench.servers import BENCH_KEY, HOST

PROBE = {"entity": "user:auth-probe"}  # a cheap read that still runs the whole route


def auth_overhead(ctx: Context) -> None:
    with (
        ctx.store("auth-on") as on_store,
        ctx.store("auth-off") as off_store,
        ctx.nodes("node-auth-on", on_store) as on,
        ctx.nodes("node-auth-off", off_store, auth=False) as off,
    ):
        for port in on.ports:
            _warm_key_cache(port)
        figures = ctx.measure(
            Target("auth/assert/on", on, RequestPlan("assert", 201, token=BENCH_KEY), 1),
            Target("auth/assert/off", off, RequestPlan("assert", 201), 1),
            Target("auth/read/on", on, _probe(BENCH_KEY), 1),
            Target("auth/read/off", off, _probe(None), 1),
        )
    assert_on, assert_off, read_on, read_off = figures
    assert_delta = round(assert_on.p50_ms - assert_off.p50_ms, 3)
    read_delta = round(read_on.p50_ms - read_off.p50_ms, 3)
    ctx.note("auth/p50_delta_ms", **{"assert": assert_delta, "read": read_delta})
    ctx.headline["auth_assert_p50_delta_ms"] = assert_delta
    ctx.headline["auth_read_p50_delta_ms"] = read_delta


def _probe(token: str | None) -> RequestPlan:
    return RequestPlan("query", 200, {"queries": [PROBE]}, token=token)


def _warm_key_cache(port: int) -> None:
    """The first use of a key verifies its Argon2 hash; later ones hit the cache."""
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    got = httpx.get(f"http://{HOST}:{port}/v1/facts", params=PROBE, headers=headers, timeout=30)
    if got.status_code != 200:
        raise RuntimeError(f"the bench key was refused: {got.status_code} {got.text}")
