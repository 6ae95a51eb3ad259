"""The hybrid logical clock: fixed width, monotonic, parsed numerically (CONTRACT §2)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stigmem_node.facts.hlc import MAX_COUNTER, HybridClock, format_hlc, parse_hlc


class Wall:
    """A wall clock in milliseconds that moves only when a test says so."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_fixed_width_format() -> None:
    assert format_hlc(1796312270906, 0) == "1796312270906.000"
    assert format_hlc(1, 2) == "0000000000001.002"
    assert len(format_hlc(0, 999)) == 17


def test_frozen_clock_counts_up() -> None:
    clock = HybridClock(Wall(1_000))
    assert [clock.tick() for _ in range(3)] == [
        "0000000001000.000",
        "0000000001000.001",
        "0000000001000.002",
    ]


def test_backwards_clock_never_goes_back() -> None:
    wall = Wall(5_000)
    clock = HybridClock(wall)
    first = clock.tick()
    wall.ms = 4_000  # the system clock stepped back
    second = clock.tick()
    assert second == "0000000005000.001"
    assert parse_hlc(second) > parse_hlc(first)
    wall.ms = 6_000
    assert clock.tick() == "0000000006000.000"


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    clock = HybridClock(Wall(7_000))
    ticks = [clock.tick() for _ in range(MAX_COUNTER + 2)]
    assert ticks[MAX_COUNTER] == "0000000007000.999"
    assert ticks[MAX_COUNTER + 1] == "0000000007001.000"
    assert ticks == sorted(ticks)
    assert len(set(ticks)) == len(ticks)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1796312270906.0", (1796312270906, 0)),  # upstream's unpadded form
        ("1796312270906.000", (1796312270906, 0)),
        ("1796312270906.12", (1796312270906, 12)),
        ("1796312270906", (1796312270906, 0)),
        (" 0000000000001.002 ", (1, 2)),
    ],
)
def test_parse(text: str, parsed: tuple[int, int]) -> None:
    assert parse_hlc(text) == parsed


@pytest.mark.parametrize(
    "text", ["", "abc", "1.x", "-1.0", "1.2.3", "1.", ".5", "1 .0", "12345678901234567.0", "1e3.0"]
)
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hlc(text)


def test_numeric_not_textual_comparison() -> None:
    # As text, "…906.10" < "…906.9" — the upstream bug that loses facts once a counter hits 10.
    assert "1796312270906.10" < "1796312270906.9"
    assert parse_hlc("1796312270906.10") > parse_hlc("1796312270906.9")
    assert parse_hlc("999.0") < parse_hlc("1000.0")


def test_observe_remote_unpadded_moves_local_ticks_after_it() -> None:
    clock = HybridClock(Wall(1_000))
    clock.observe("1796312270906.7")
    assert parse_hlc(clock.tick()) == (1796312270906, 8)


def test_observe_older_remote_changes_nothing() -> None:
    clock = HybridClock(Wall(5_000))
    clock.tick()
    clock.observe("10.5")
    assert clock.tick() == "0000000005000.001"


@given(st.lists(st.integers(min_value=0, max_value=10**13 - 10), min_size=1, max_size=300))
def test_ticks_strictly_increase_whatever_the_wall_does(walls: list[int]) -> None:
    wall = Wall(0)
    clock = HybridClock(wall)
    ticks = []
    for ms in walls:
        wall.ms = ms
        ticks.append(clock.tick())
    parsed = [parse_hlc(t) for t in ticks]
    assert all(a < b for a, b in itertools.pairwise(parsed))
    # Fixed width makes text order agree with numeric order for our own HLCs.
    assert ticks == sorted(ticks, key=parse_hlc)
    assert all(len(t) == 17 for t in ticks)
