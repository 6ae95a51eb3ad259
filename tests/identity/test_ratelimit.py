"""Rate limits: per-principal buckets, upstream's 429, recovery on an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stigmem_node.auth.ratelimit import RateLimiter, dimension_of
from stigmem_node.clock import FakeClock
from stigmem_node.config import Settings, SettingsError, load_settings
from tests.conftest import NodeHarness, fact_body, start_node
from tests.identity.support import count, events, mint_key


@pytest.mark.parametrize(
    ("method", "path", "dimension"),
    [
        ("POST", "/v1/facts", "fact_write"),
        ("POST", "/v1/facts/batch", "fact_write"),
        ("GET", "/v1/facts", "fact_read"),
        ("GET", "/v1/facts/abc", "fact_read"),
        ("HEAD", "/v1/facts", "fact_read"),
        ("POST", "/v1/recall", "fact_read"),
        ("GET", "/v1/audit/export", "fact_read"),
        ("GET", "/v1/admin/audit", "admin"),
        ("POST", "/v1/federation/facts", None),
        ("GET", "/v1/federation/facts", None),
        ("OPTIONS", "/v1/facts", None),
        ("GET", "/v1/me", None),
        ("POST", "/v1/conflicts/x/resolve", None),
    ],
)
def test_dimensions(method: str, path: str, dimension: str | None) -> None:
    assert dimension_of(method, path) == dimension


def limiter_from(settings: Settings, clock: FakeClock) -> RateLimiter:
    return RateLimiter(
        clock,
        write_per_hour=settings.rate_limit_write_per_hour,
        read_per_hour=settings.rate_limit_read_per_hour,
        admin_per_hour=settings.rate_limit_admin_per_hour,
        burst_s=settings.rate_limit_burst_s,
    )


def test_defaults_never_throttle_an_agent_at_50_writes_per_second(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = limiter_from(Settings(db_path=tmp_path / "x.db"), clock)
    for _ in range(50 * 600):  # ten minutes at 50 writes/s, evenly spaced
        assert limiter.check("agent:busy", "POST", "/v1/facts") is None
        clock.advance(1 / 50)


def test_defaults_absorb_a_burst_then_hold_the_sustained_rate(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = limiter_from(Settings(db_path=tmp_path / "x.db"), clock)
    granted = 0
    while limiter.check("agent:burst", "POST", "/v1/facts") is None:
        granted += 1
    assert granted == 6000  # 60 s of the default 100 writes/s
    clock.advance(0.5)
    assert sum(limiter.check("agent:burst", "POST", "/v1/facts") is None for _ in range(100)) == 50


def test_upstreams_default_would_throttle(tmp_path: Path) -> None:
    """Why the defaults differ: 1000/h is one write every 3.6 s once the burst is spent."""
    clock = FakeClock()
    limiter = limiter_from(
        Settings(db_path=tmp_path / "x.db", rate_limit_write_per_hour=1000), clock
    )
    results = []
    for _ in range(200):
        results.append(limiter.check("agent:a", "POST", "/v1/facts"))
        clock.advance(1 / 50)
    assert any(r is not None for r in results)


def test_both_limits_off_needs_ack(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="RATE_LIMIT_DISABLED_ACK"):
        load_settings(
            db_path=tmp_path / "x.db", rate_limit_write_per_hour=0, rate_limit_read_per_hour=0
        )
    settings = load_settings(
        db_path=tmp_path / "x.db",
        rate_limit_write_per_hour=0,
        rate_limit_read_per_hour=0,
        rate_limit_disabled_ack=True,
    )
    limiter = limiter_from(settings, FakeClock())
    assert all(limiter.check("a", "POST", "/v1/facts") is None for _ in range(10_000))


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    """Writes: 1/s, burst 3. Reads: 2/s, burst 6. Admin: 1/s, burst 3."""
    async for h in start_node(
        tmp_path,
        clock=FakeClock(),
        rate_limit_write_per_hour=3600,
        rate_limit_read_per_hour=7200,
        rate_limit_admin_per_hour=3600,
        rate_limit_burst_s=3,
    ):
        yield h


async def test_429_shape_and_recovery(limited: NodeHarness) -> None:
    assert limited.clock is not None
    async with limited.client() as client:
        for i in range(3):
            body = fact_body(entity=f"user:{i}")
            assert (await client.post("/v1/facts", json=body)).status_code == 201
        refused = await client.post("/v1/facts", json=fact_body(entity="user:late"))
        assert refused.status_code == 429
        assert refused.json() == {
            "error": "quota_exceeded",
            "dimension": "fact_write",
            "principal": "agent:admin",
            "retry_after": 1.0,
        }
        assert refused.headers["retry-after"] == "1"
        assert count(limited, "facts") == 3

        limited.clock.advance(0.25)
        again = await client.post("/v1/facts", json=fact_body(entity="user:late"))
        assert again.json()["retry_after"] == 0.75
        assert again.headers["retry-after"] == "1"  # never below one second

        assert (await client.get("/v1/facts")).status_code == 200  # reads: another bucket
        limited.clock.advance(0.75)
        assert (await client.post("/v1/facts", json=fact_body(entity="user:late"))).status_code == (
            201
        )
        assert (await client.post("/v1/facts", json=fact_body(entity="user:x"))).status_code == (
            429
        )
        limited.clock.advance(3600)  # a long pause refills only up to the burst
        statuses = [
            (await client.post("/v1/facts", json=fact_body(entity=f"user:r{i}"))).status_code
            for i in range(4)
        ]
        assert statuses == [201, 201, 201, 429]


async def test_buckets_are_per_principal(limited: NodeHarness) -> None:
    async with limited.client() as admin:
        other = await mint_key(admin, "agent:other")
        for i in range(3):
            await admin.post("/v1/facts", json=fact_body(entity=f"user:{i}"))
        assert (await admin.post("/v1/facts", json=fact_body())).status_code == 429
    async with limited.client(other) as client:
        assert (await client.post("/v1/facts", json=fact_body())).status_code == 201


async def test_federation_and_other_routes_are_exempt(limited: NodeHarness) -> None:
    async with limited.client() as client:
        for i in range(3):
            await client.post("/v1/facts", json=fact_body(entity=f"user:{i}"))
        assert (await client.post("/v1/facts", json=fact_body())).status_code == 429
        for _ in range(10):
            response = await client.post("/v1/federation/facts", json={})
            assert response.status_code != 429
            assert (await client.get("/v1/me")).status_code == 200


async def test_admin_dimension(limited: NodeHarness) -> None:
    async with limited.client() as client:
        statuses = [(await client.get("/v1/admin/audit")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


async def test_breaches_are_audited_coalesced(limited: NodeHarness) -> None:
    async with limited.client() as client:
        for i in range(3):
            await client.post("/v1/facts", json=fact_body(entity=f"user:{i}"))
        for _ in range(25):
            assert (await client.post("/v1/facts", json=fact_body())).status_code == 429
    first = await events(limited, "quota_breach")
    assert len(first) == 1  # 25 refusals, one row while the window is open
    assert first[0]["entity_uri"] == "agent:admin"
    assert first[0]["detail"]["dimension"] == "fact_write"
    rows = await events(limited, "quota_breach", close_windows=True)
    assert [r["detail"]["occurrences"] for r in rows] == [1, 24]
    assert rows[1]["detail"]["coalesced"] is True
    metrics = limited.node.metrics.render().decode()
    assert 'stigmem_rate_limit_hits_total{dimension="fact_write"} 25.0' in metrics


async def test_callers_without_a_key_are_not_limited(tmp_path: Path) -> None:
    async for node in start_node(
        tmp_path,
        clock=FakeClock(),
        auth_required=False,
        rate_limit_write_per_hour=3600,
        rate_limit_burst_s=1,
    ):
        async with node.client(None) as anonymous:
            for i in range(5):
                response = await anonymous.post("/v1/facts", json=fact_body(entity=f"user:{i}"))
                assert response.status_code == 201
