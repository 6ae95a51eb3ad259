"""Hybrid logical clock, fixed width ``{wall_ms:013d}.{counter:03d}``.

The clock is ticked only inside the write path (the writer thread), so commit order and HLC
order agree. Remote HLCs (upstream emits them unpadded) are parsed numerically; HLCs are never
compared as text unless both sides were produced by ``format_hlc``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

MAX_COUNTER = 999


def format_hlc(wall_ms: int, counter: int) -> str:
    return f"{wall_ms:013d}.{counter:03d}"


def parse_hlc(text: str) -> tuple[int, int]:
    """``"1796312270906.0"`` or ``"1796312270906.000"`` → ``(1796312270906, 0)``."""
    wall, sep, counter = text.strip().partition(".")
    if not wall.isdigit() or (sep and not counter.isdigit()) or len(wall) > 16:
        raise ValueError(f"malformed HLC {text!r}")
    return int(wall), int(counter or 0)


class HybridClock:
    """Thread-safe HLC; ``wall_ms`` is a callable so tests can inject time."""

    def __init__(self, wall_ms: Callable[[], int]) -> None:
        self._wall_ms = wall_ms
        self._last = (0, 0)
        self._lock = threading.Lock()

    def tick(self) -> str:
        with self._lock:
            wall = self._wall_ms()
            last_wall, last_counter = self._last
            if wall > last_wall:
                state = (wall, 0)
            elif last_counter < MAX_COUNTER:
                state = (last_wall, last_counter + 1)
            else:  # counter exhausted within one millisecond: borrow the next millisecond
                state = (last_wall + 1, 0)
            self._last = state
            return format_hlc(*state)

    def observe(self, remote: str) -> None:
        """Merge a remote HLC so later local ticks sort after it."""
        wall, counter = parse_hlc(remote)
        with self._lock:
            self._last = max(self._last, (wall, min(counter, MAX_COUNTER)))
