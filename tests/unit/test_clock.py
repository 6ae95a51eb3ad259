"""Timestamps: parsed as ISO 8601, normalised to UTC, stored in a sortable fixed form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stigmem_node.clock import FakeClock, format_ts, normalise_ts, parse_ts


def test_format_is_upstreams_with_microseconds() -> None:
    moment = datetime(2026, 12, 3, 15, 37, 50, 906450, tzinfo=UTC)
    assert format_ts(moment) == "2026-12-03T15:37:50.906450+00:00"
    assert format_ts(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-01T02:00:00+02:00", "2030-01-01T00:00:00.000000+00:00"),
        ("2030-01-01T00:00:00Z", "2030-01-01T00:00:00.000000+00:00"),
        ("2030-01-01T00:00:00", "2030-01-01T00:00:00.000000+00:00"),  # naive = UTC
        ("2030-01-01", "2030-01-01T00:00:00.000000+00:00"),
        (" 2030-01-01T00:00:00.5-01:00 ", "2030-01-01T01:00:00.500000+00:00"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise_ts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2030-13-01",
        "2030-01-01T25:00:00",
        "x" * 100,
        "9999-12-31T23:59:59-01:00",  # past the last representable instant in UTC
        "0001-01-01T00:00:00+01:00",  # before the first one
    ],
)
def test_unparseable_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ts(text)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_text_order_is_time_order(moment: datetime, offset_min: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_min)))
    assert parse_ts(local.isoformat()) == moment
    later = moment + timedelta(microseconds=1)
    assert format_ts(moment) < format_ts(later)


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    first, mono = clock.now(), clock.monotonic()
    assert clock.now() == first
    clock.advance(2.5)
    assert clock.now() - first == timedelta(seconds=2.5)
    assert clock.monotonic() - mono == 2.5
