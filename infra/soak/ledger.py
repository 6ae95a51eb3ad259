"""What the soak runner did and saw: acknowledged facts, retractions, contested pairs, lag
samples, fault windows and errors. The verdict compares this with every node's export."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MAX_ERROR_SAMPLES = 50


@dataclass(slots=True)
class Written:
    """A fact a node acknowledged (2xx): it must end up on every node."""

    fact_id: str
    cid: str
    origin: str
    kind: str  # item | retraction | probe | contested
    body: dict[str, Any]
    acked_at: float


@dataclass(slots=True)
class Lag:
    origin: str
    target: str
    acked_at: float
    seen_at: float

    @property
    def seconds(self) -> float:
        return self.seen_at - self.acked_at


@dataclass(slots=True)
class Fault:
    kind: str  # kill-restart | partition | slow-peer
    node: str
    started_at: float
    ended_at: float | None = None


@dataclass(slots=True)
class Ledger:
    started_at: float = field(default_factory=time.monotonic)
    written: dict[str, Written] = field(default_factory=dict)
    retracted: dict[str, str] = field(default_factory=dict)  # original id -> retraction id
    contested: list[tuple[str, str]] = field(default_factory=list)
    lags: list[Lag] = field(default_factory=list)
    probes_lost: int = 0
    faults: list[Fault] = field(default_factory=list)
    requests: int = 0
    interrupted: int = 0  # requests cut by a fault the runner injected (not errors)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(f"t+{time.monotonic() - self.started_at:.1f}s {message}")

    def faulted(self, start: float, end: float) -> bool:
        """Whether a fault window overlaps [start, end]."""
        return any(
            f.started_at <= end and (f.ended_at is None or f.ended_at >= start) for f in self.faults
        )
