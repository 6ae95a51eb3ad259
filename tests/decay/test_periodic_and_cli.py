"""Periodic sweeps (driven by a fake sleep, never real time) and ``stigmem decay sweep``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from click.testing import CliRunner

from stigmem_node.cli import main
from stigmem_node.clock import FakeClock
from stigmem_node.decay.scheduler import DecayScheduler
from tests.conftest import cli_env, make_settings, start_node
from tests.decay.support import counts, put


class Ticks:
    """A sleep that returns only when the test says so, and records what was asked."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._go: asyncio.Queue[None] = asyncio.Queue()
        self.waiting = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.waiting.set()
        await self._go.get()
        self.waiting.clear()

    async def tick(self) -> None:
        """Let one sleep return, then wait until the loop is sleeping again."""
        self.waiting.clear()
        self._go.put_nowait(None)
        await self.waiting.wait()


async def test_periodic_sweeps_use_the_defaults(tmp_path: Path) -> None:
    clock = FakeClock()
    async for h in start_node(tmp_path, clock=clock, decay_ttl_seconds=3600):
        async with h.client() as admin:
            old = await put(admin, entity="user:old")
            clock.advance(7200)
            ticks = Ticks()
            scheduler = DecayScheduler(h.node.decay, 60.0, sleep=ticks.sleep)
            await scheduler.start()
            try:
                await ticks.waiting.wait()
                assert scheduler.sweeps == 0
                await ticks.tick()
                assert scheduler.sweeps == 1
                assert (await admin.get(f"/v1/facts/{old['id']}")).json()["valid_until"]
                await ticks.tick()
                assert scheduler.sweeps == 2
                assert ticks.asked == [60.0, 60.0, 60.0]
            finally:
                await scheduler.stop()
            assert not scheduler.running


async def test_a_failing_sweep_does_not_stop_the_schedule(tmp_path: Path) -> None:
    async for _ in start_node(tmp_path, clock=FakeClock(), decay_ttl_seconds=60):
        ticks = Ticks()
        calls = 0

        class Broken:
            async def sweep_as_node(self) -> dict[str, object]:
                nonlocal calls
                calls += 1
                raise RuntimeError("disk on fire")

        scheduler = DecayScheduler(Broken(), 1.0, sleep=ticks.sleep)
        await scheduler.start()
        try:
            await ticks.waiting.wait()
            await ticks.tick()
            await ticks.tick()
            assert calls == 2
            assert scheduler.running
        finally:
            await scheduler.stop()


async def test_the_schedule_lives_with_the_node(tmp_path: Path) -> None:
    async for h in start_node(tmp_path, decay_sweep_interval_s=3600):
        assert h.node.decay_scheduler.running
    assert not h.node.decay_scheduler.running
    async for h in start_node(tmp_path / "off"):
        assert not h.node.decay_scheduler.running  # off by default


async def _seed(tmp_path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    async for h in start_node(tmp_path, clock=FakeClock()):
        async with h.client() as admin:
            await put(admin, entity="user:a", scope="team")
            await put(admin, entity="user:b", confidence=0.2)
        found = await counts(h)
    return found


async def _counts(tmp_path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    async for h in start_node(tmp_path, clock=FakeClock()):
        found = await counts(h)
    return found


def test_cli_sweep(tmp_path: Path) -> None:
    asyncio.run(_seed(tmp_path))
    db = str(make_settings(tmp_path).db_path)
    runner = CliRunner(env=cli_env(tmp_path))

    dry = runner.invoke(main, ["decay", "sweep", "--ttl-seconds", "0", "--dry-run", "--db", db])
    assert dry.exit_code == 0, dry.output
    assert orjson.loads(dry.output) == {"scanned": 2, "decayed": 0, "dry_run": True}

    scoped = runner.invoke(
        main, ["decay", "sweep", "--ttl-seconds", "0", "--scope", "team", "--db", db]
    )
    assert orjson.loads(scoped.output) == {"scanned": 1, "decayed": 1, "dry_run": False}

    floor = runner.invoke(main, ["decay", "sweep", "--min-confidence", "0.5", "--db", db])
    assert orjson.loads(floor.output) == {"scanned": 1, "decayed": 1, "dry_run": False}
    assert asyncio.run(_counts(tmp_path))["fact_retractions"] == 1


def test_cli_refuses_bad_flags(tmp_path: Path) -> None:
    before = asyncio.run(_seed(tmp_path))
    db = str(make_settings(tmp_path).db_path)
    runner = CliRunner(env=cli_env(tmp_path))
    for flags in (
        ["--ttl-seconds", "-5"],
        ["--min-confidence", "2"],
        ["--min-confidence", "nan"],
        ["--scope", "galaxy"],
    ):
        result = runner.invoke(main, ["decay", "sweep", *flags, "--db", db])
        assert result.exit_code == 2, (flags, result.output)
    assert asyncio.run(_counts(tmp_path)) == before
