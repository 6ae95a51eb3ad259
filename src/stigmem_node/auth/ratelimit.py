"""Per-principal token buckets, in memory, checked at the request edge.

Dimensions (upstream's): ``fact_write`` (writes to ``/v1/facts*``), ``fact_read`` (reads of
``/v1/facts*``, ``/v1/recall*`` and, ours, ``/v1/audit*``) and ``admin`` (``/v1/admin/*``).
Federation routes, OPTIONS and callers without an API key (auth off) are never limited.

A bucket refills at ``STIGMEM_RATE_LIMIT_<DIM>_PER_HOUR / 3600`` tokens per second and holds
at most ``STIGMEM_RATE_LIMIT_BURST_S`` seconds of refill (upstream's bucket holds a whole
hour, which lets a client spend an hour's quota in one burst). 0 turns a dimension off; both
write and read at 0 need ``STIGMEM_RATE_LIMIT_DISABLED_ACK``. Defaults: 360 000 writes/h
(100/s sustained, so one well-behaved agent at 50 writes/s is never throttled), 1 800 000
reads/h, 36 000 admin requests/h. A check is O(1), allocates nothing once the principal has a
bucket, and never touches the database. Buckets live per process: N processes admit up to N
times the rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stigmem_node.clock import Clock

FACT_WRITE, FACT_READ, ADMIN = "fact_write", "fact_read", "admin"
MAX_PRINCIPALS = 100_000
_READ_METHODS = frozenset({"GET", "HEAD"})


def dimension_of(method: str, path: str) -> str | None:
    """Which bucket a request draws from, or None when it is not limited."""
    if method == "OPTIONS" or path.startswith("/v1/federation"):
        return None
    if path.startswith("/v1/facts"):
        return FACT_READ if method in _READ_METHODS else FACT_WRITE
    if path.startswith(("/v1/recall", "/v1/audit")):
        return FACT_READ
    if path.startswith("/v1/admin/"):
        return ADMIN
    return None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True, slots=True)
class Denial:
    """A refused request: upstream's 429 body and the ``Retry-After`` header value."""

    dimension: str
    principal: str
    retry_after: float

    def body(self) -> dict[str, Any]:
        return {
            "error": "quota_exceeded",
            "dimension": self.dimension,
            "principal": self.principal,
            "retry_after": round(self.retry_after, 2),
        }

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class _Limit:
    """One dimension: its rate, capacity and the buckets of every principal."""

    def __init__(self, per_hour: int, burst_s: float) -> None:
        self.rate = per_hour / 3600.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.buckets: dict[str, _Bucket] = {}

    def take(self, principal: str, now: float) -> float:
        """Take one token; 0.0 when granted, else the seconds until one is available."""
        bucket = self.buckets.get(principal)
        if bucket is None:
            if len(self.buckets) >= MAX_PRINCIPALS:
                self._forget_full(now)
            self.buckets[principal] = _Bucket(self.capacity - 1.0, now)
            return 0.0
        tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if tokens >= 1.0:
            bucket.tokens = tokens - 1.0
            return 0.0
        bucket.tokens = tokens
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (equivalent to absent ones); then any if needed."""
        full = [
            p
            for p, b in self.buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.capacity
        ]
        for principal in full:
            del self.buckets[principal]
        if len(self.buckets) >= MAX_PRINCIPALS:  # everyone is active: forget the oldest half
            for principal in list(self.buckets)[: MAX_PRINCIPALS // 2]:
                del self.buckets[principal]


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        *,
        write_per_hour: int,
        read_per_hour: int,
        admin_per_hour: int,
        burst_s: float,
    ) -> None:
        self._clock = clock
        self._limits: dict[str, _Limit] = {}
        for name, per_hour in (
            (FACT_WRITE, write_per_hour),
            (FACT_READ, read_per_hour),
            (ADMIN, admin_per_hour),
        ):
            if per_hour > 0:
                self._limits[name] = _Limit(per_hour, burst_s)

    def check(self, principal: str, method: str, path: str) -> Denial | None:
        """None when the request may proceed (its token is taken), else the denial."""
        if not self._limits:
            return None
        dimension = dimension_of(method, path)
        if dimension is None:
            return None
        limit = self._limits.get(dimension)
        if limit is None:
            return None
        wait = limit.take(principal, self._clock.monotonic())
        return Denial(dimension, principal, wait) if wait > 0.0 else None
