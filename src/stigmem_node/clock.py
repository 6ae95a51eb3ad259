"""Time, read only through an injected clock so tests can move it without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (intervals, buckets, caches)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def format_ts(moment: datetime) -> str:
    """Upstream's timestamp form, always with microseconds so text order is time order."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # isoformat (C, several times faster than strftime) gives exactly this form for UTC.
    return utc.isoformat(timespec="microseconds")


def parse_ts(text: str) -> datetime:
    """Parse an ISO 8601 timestamp to aware UTC; naive input is taken as UTC.

    Raises ``ValueError`` for anything unparseable.
    """
    text = text.strip()
    if not text or len(text) > 64:
        raise ValueError("empty or oversized timestamp")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 lies past datetime.max in UTC
        raise ValueError("timestamp out of range") from None


def normalise_ts(text: str) -> str:
    """Parse and re-emit a timestamp in the stored (sortable) form."""
    return format_ts(parse_ts(text))


def normalise_utc_input(text: str) -> str:
    """An input instant as stored and echoed: already-UTC text is kept as the client wrote it
    (``2030-01-01T00:00:00Z`` round-trips, as upstream clients expect); any other offset, or
    none, is converted to the stored UTC form. Raises ``ValueError`` when unparseable."""
    parsed = datetime.fromisoformat(text.strip())
    offset = parsed.utcoffset()
    if offset is not None and not offset:
        return text.strip()
    return format_ts(parse_ts(text))
