"""Exponential backoff with jitter, persisted per peer and direction."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from stigmem_node.clock import format_ts, parse_ts


def backoff_delay(
    failures: int, *, base_s: float, max_s: float, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds to wait after ``failures`` consecutive failures (≥ 1).

    ``base · 2^(failures-1)`` capped at ``max_s``, then "equal jitter" (half fixed, half
    random) so peers that failed together do not retry together; never less than the peer's
    ``Retry-After``.
    """
    exponent = min(max(failures - 1, 0), 32)
    ceiling: float = min(max_s, base_s * 2.0**exponent)
    delay = ceiling / 2 + float(rng.uniform(0, ceiling / 2))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def retry_at(now: datetime, delay_s: float) -> str:
    return format_ts(now + timedelta(seconds=delay_s))


def seconds_until(now: datetime, stored: str | None) -> float:
    """Seconds left of a persisted backoff (0 when none or past; bad text counts as none)."""
    if not stored:
        return 0.0
    try:
        return max((parse_ts(stored) - now).total_seconds(), 0.0)
    except ValueError:
        return 0.0
